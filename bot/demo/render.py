"""Slack's mrkdwn and Block Kit as HTML, faithfully enough to use: every text is HTML-escaped before any markup is
added (the markup is ours, never the text's), links only to http(s), mailto and tel.

Interactive elements are real form controls: a message is one <form> (so radio buttons or a select next to a
button travel with the click, as Slack's `state` does), each button a submit button naming its element as
`act=["<block>.<element>", "<action_id>"(, "<option value>")]` (JSON: the page checks the action_id and the option
against the message as it is now, so a click on a stale page is refused, never taken as another element's), each
choice a field named `s.<block>.<element>` whose values are the options' own values; checkboxes, radio buttons and
selects have an Apply button (the page's script applies them at once when scripts run).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

from bot.slack.text import unescape

_CONTROL = re.compile(r"<([^<>\n]*)>")
_STASHED = re.compile(r"\x00(\d+)\x00")
_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])")
_PRE = re.compile(r"```\n?(.+?)```", re.DOTALL)
_CODE = re.compile(r"`([^`\n]+)`")
_QUOTE = re.compile(r"^&gt; ?(.*)$", re.MULTILINE)
_EMOJI = re.compile(r":([a-z0-9_+-]+):")
EMOJI = {
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "x": "❌",
    "warning": "⚠️",
    "rotating_light": "🚨",
    "fire": "🔥",
    "red_circle": "🔴",
    "large_orange_circle": "🟠",
    "large_yellow_circle": "🟡",
    "large_green_circle": "🟢",
    "large_blue_circle": "🔵",
    "white_circle": "⚪",
    "eyes": "👀",
    "pager": "📟",
    "rocket": "🚀",
    "bell": "🔔",
    "no_bell": "🔕",
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "memo": "📝",
    "pushpin": "📌",
    "clipboard": "📋",
    "bar_chart": "📊",
    "chart_with_upwards_trend": "📈",
    "mag": "🔍",
    "wrench": "🔧",
    "hammer_and_wrench": "🛠️",
    "sos": "🆘",
    "bust_in_silhouette": "👤",
    "busts_in_silhouette": "👥",
    "calendar": "📅",
    "clock1": "🕐",
    "stopwatch": "⏱️",
    "tada": "🎉",
    "arrows_counterclockwise": "🔄",
    "leftwards_arrow_with_hook": "↩️",
    "information_source": "ℹ️",
    "lock": "🔒",
    "zzz": "💤",
    "heavy_minus_sign": "➖",
    "ballot_box_with_check": "☑️",
    "black_square_button": "🔲",
    "no_entry": "⛔",
    "construction": "🚧",
    "green_heart": "💚",
    "mega": "📣",
    "ambulance": "🚑",
    "arrows_clockwise": "🔃",
    "mute": "🔇",
    "notebook": "📓",
    "fast_forward": "⏩",
    "rewind": "⏪",
    "books": "📚",
    "alarm_clock": "⏰",
    "arrow_up": "⬆️",
    "broom": "🧹",
    "checkered_flag": "🏁",
    "globe_with_meridians": "🌐",
    "handshake": "🤝",
    "no_entry_sign": "🚫",
    "repeat": "🔁",
}
STATEFUL = frozenset(
    {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
        "checkboxes",
        "radio_buttons",
        "datepicker",
        "timepicker",
        "plain_text_input",
        "number_input",
        "email_text_input",
        "url_text_input",
    }
)


INPUT_TYPES = {
    "plain_text_input": "text",
    "number_input": "number",
    "email_text_input": "email",
    "url_text_input": "url",
}


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def act_value(ref: str, element: dict[str, Any], option: Any = None) -> str:
    """A button's `act` value: where the element is, its action_id and (an overflow's) the option's value."""
    found = [ref, str(element.get("action_id") or "")]
    return json.dumps(found if option is None else [*found, str(option)])


def options_of(element: dict[str, Any]) -> list[dict[str, Any]]:
    """An element's options, its option groups flattened in."""
    found = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        found.extend(group.get("options") or [])
    return found


class Renderer:
    def __init__(self, user_name: Callable[[str], str | None], channel_name: Callable[[str], str | None]) -> None:
        self.user_name = user_name
        self.channel_name = channel_name
        self.people: list[tuple[str, str]] = []  # (id, name): what a users_select offers
        self.channels: list[tuple[str, str]] = []  # (id, name): what a conversations_select offers

    # -- text -------------------------------------------------------------------------------------------------

    def mrkdwn(self, text: str) -> str:
        stash: list[str] = []

        def keep(piece: str) -> str:
            stash.append(piece)
            return f"\x00{len(stash) - 1}\x00"

        text = str(text).replace("\x00", "")
        text = _CONTROL.sub(lambda m: keep(self._control(m[1])), text)
        text = esc(unescape(text))
        text = _PRE.sub(lambda m: keep(f"<pre>{m[1]}</pre>"), text)
        text = _CODE.sub(lambda m: keep(f"<code>{m[1]}</code>"), text)
        text = _BOLD.sub(r"<b>\1</b>", text)
        text = _ITALIC.sub(r"<i>\1</i>", text)
        text = _STRIKE.sub(r"<s>\1</s>", text)
        text = _QUOTE.sub(r'<span class="quote">\1</span>', text)
        text = _EMOJI.sub(lambda m: EMOJI.get(m[1], m[0]), text)
        while _STASHED.search(text):
            text = _STASHED.sub(lambda m: stash[int(m[1])], text)
        return text

    def _control(self, inner: str) -> str:
        """One `<…>` of Slack's: a mention, a channel, a broadcast, a date, a link; anything else shown as typed."""
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            name = self.user_name(target[1:]) or unescape(label) or target[1:]
            return f'<span class="mention">@{esc(name)}</span>'
        if target.startswith("#"):
            name = self.channel_name(target[1:]) or unescape(label) or target[1:]
            return f'<span class="mention">#{esc(name)}</span>'
        if target.startswith("!"):
            word = target[1:].split("^")[0]
            if word in ("here", "channel", "everyone"):
                return f'<span class="mention broadcast">@{esc(word)}</span>'
            return f'<span class="mention">{esc(unescape(label) or word)}</span>'
        if target.startswith(("http://", "https://", "mailto:", "tel:")):
            shown = unescape(label) if label else unescape(target)
            return f'<a href="{esc(unescape(target))}" rel="noopener noreferrer">{esc(shown)}</a>'
        return esc(f"<{unescape(inner)}>")

    def text(self, obj: Any) -> str:
        """A text object: mrkdwn, or plain_text (escaped, nothing else)."""
        if isinstance(obj, str):
            return esc(obj)
        if not isinstance(obj, dict):
            return ""
        if obj.get("type") == "mrkdwn":
            return self.mrkdwn(str(obj.get("text") or ""))
        return esc(obj.get("text") or "")

    def plain(self, obj: Any) -> str:
        return esc(obj.get("text") or "") if isinstance(obj, dict) else esc(obj or "")

    # -- blocks -----------------------------------------------------------------------------------------------

    def blocks(self, blocks: list[dict[str, Any]], *, errors: dict[str, str] | None = None, typed: Any = None) -> str:
        return "".join(self.block(b, block, errors or {}, typed or {}) for b, block in enumerate(blocks))

    def block(self, b: int, block: dict[str, Any], errors: dict[str, str], typed: dict[str, Any]) -> str:
        kind = block.get("type")
        if kind == "section":
            parts = []
            if "text" in block:
                parts.append(f'<div class="text">{self.text(block["text"])}</div>')
            if block.get("fields"):
                fields = "".join(f'<div class="field">{self.text(f)}</div>' for f in block["fields"])
                parts.append(f'<div class="fields">{fields}</div>')
            accessory = block.get("accessory")
            if isinstance(accessory, dict):
                parts.append(f'<div class="accessory">{self.element(f"{b}.a", accessory, typed)}</div>')
            return f'<div class="block section">{"".join(parts)}</div>'
        if kind == "header":
            return f'<h3 class="block header">{self.plain(block.get("text"))}</h3>'
        if kind == "divider":
            return '<hr class="block divider">'
        if kind == "context":
            items = []
            for element in block.get("elements") or []:
                if element.get("type") == "image":
                    items.append(f'<span class="image">[{esc(element.get("alt_text") or "image")}]</span>')
                else:
                    items.append(f"<span>{self.text(element)}</span>")
            return f'<div class="block context">{" ".join(items)}</div>'
        if kind == "actions":
            elements = block.get("elements") or []
            inner = "".join(self.element(f"{b}.{e}", element, typed) for e, element in enumerate(elements))
            return f'<div class="block actions">{inner}</div>'
        if kind == "input":
            return self.input_block(b, block, errors, typed)
        if kind == "image":
            return f'<div class="block image">[image: {esc(block.get("alt_text") or "")}]</div>'
        if kind == "rich_text":
            return f'<div class="block rich">{esc(_rich_text(block))}</div>'
        return f'<div class="block unknown">[a {esc(kind)} block]</div>'

    def input_block(self, b: int, block: dict[str, Any], errors: dict[str, str], typed: dict[str, Any]) -> str:
        element = block.get("element") or {}
        name = f"s.{b}.0"
        optional = block.get("optional") in (True, "true")
        label = self.plain(block.get("label")) + ("" if not optional else ' <span class="optional">(optional)</span>')
        hint = f'<div class="hint">{self.plain(block["hint"])}</div>' if block.get("hint") else ""
        error = errors.get(str(block.get("block_id")))
        shown_error = f'<div class="error" role="alert" id="err-{name}">{esc(error)}</div>' if error else ""
        control = self.element(f"{b}.0", element, typed, field_id=name, required=not optional)
        kind = element.get("type")
        tag = "fieldset" if kind in ("checkboxes", "radio_buttons") else "div"
        legend = f"<legend>{label}</legend>" if tag == "fieldset" else f'<label for="{name}">{label}</label>'
        return f'<{tag} class="block input">{legend}{control}{hint}{shown_error}</{tag}>'

    # -- elements ---------------------------------------------------------------------------------------------

    def element(
        self, ref: str, element: dict[str, Any], typed: dict[str, Any], *, field_id: str | None = None, required=False
    ) -> str:
        """One element; `field_id` when it is the element of a modal's input block (then no Apply button)."""
        kind = str(element.get("type"))
        if kind == "button":
            style = esc(element.get("style") or "default")
            return (
                f'<button type="submit" name="act" value="{esc(act_value(ref, element))}" class="btn {style}">'
                f"{self.plain(element.get('text'))}</button>"
            )
        if kind == "overflow":
            items = "".join(
                f'<button type="submit" name="act" value="{esc(act_value(ref, element, o.get("value")))}" class="btn">'
                f"{self.plain(o.get('text'))}</button>"
                for o in options_of(element)
            )
            return f'<details class="overflow"><summary aria-label="More actions">⋯</summary>{items}</details>'
        if kind in ("checkboxes", "radio_buttons"):
            return self._choices(ref, element, typed, field_id is not None)
        if kind.endswith("_select"):
            return self._select(ref, element, typed, field_id, required)
        if kind in INPUT_TYPES:
            return self._text_input(ref, element, typed, field_id, required)
        if kind in ("datepicker", "timepicker"):
            name = f"s.{ref}"
            value = _first(typed.get(name), element.get("initial_date") or element.get("initial_time") or "")
            kind_attr = "date" if kind == "datepicker" else "time"
            field = f'<input type="{kind_attr}" id="{esc(field_id or name)}" name="{esc(name)}" value="{esc(value)}">'
            return field + ("" if field_id else self._apply(ref, element, "Set"))
        return f'<span class="unknown">[a {esc(kind)} element]</span>'

    def _choices(self, ref: str, element: dict[str, Any], typed: dict[str, Any], in_form: bool) -> str:
        kind = str(element.get("type"))
        name = f"s.{ref}"
        chosen = self._chosen(element, typed.get(name))
        boxes = []
        box = "checkbox" if kind == "checkboxes" else "radio"
        for i, option in enumerate(options_of(element)):
            box_id = f"{name}.{i}"
            value = str(option.get("value") or "")
            checked = " checked" if value in chosen else ""
            described = option.get("description")
            description = f' <span class="description">{self.text(described)}</span>' if described else ""
            boxes.append(
                f'<label for="{esc(box_id)}" class="choice"><input type="{box}" '
                f'id="{esc(box_id)}" name="{esc(name)}" value="{esc(value)}"{checked}> {self.text(option.get("text"))}'
                f"{description}</label>"
            )
        apply = "" if in_form else self._apply(ref, element, "Apply")
        return f'<div class="choices {esc(kind)}" data-apply="{esc(ref)}">{"".join(boxes)}{apply}</div>'

    def _text_input(
        self, ref: str, element: dict[str, Any], typed: dict[str, Any], field_id: str | None, required: bool
    ) -> str:
        name = f"s.{ref}"
        value = _first(typed.get(name), element.get("initial_value") or "")
        attrs = f'id="{esc(field_id or name)}" name="{esc(name)}"' + (" required" if required else "")
        if element.get("max_length"):
            attrs += f' maxlength="{int(element["max_length"])}"'
        if element.get("placeholder"):
            attrs += f' placeholder="{self.plain(element["placeholder"])}"'
        if element.get("multiline"):
            return f"<textarea {attrs} rows=4>{esc(value)}</textarea>"
        return f'<input type="{INPUT_TYPES[str(element.get("type"))]}" {attrs} value="{esc(value)}">'

    def _apply(self, ref: str, element: dict[str, Any], label: str) -> str:
        value = esc(act_value(ref, element))
        return f'<button type="submit" name="act" value="{value}" class="btn apply">{label}</button>'

    def _chosen(self, element: dict[str, Any], typed: Any) -> set[str]:
        """The values of the options chosen: as typed on the page, else the element's initial ones."""
        if typed is not None:
            return {str(v) for v in (typed if isinstance(typed, list) else [typed])}
        one = element.get("initial_option")
        return {str(o.get("value")) for o in element.get("initial_options") or ([one] if one else [])}

    def _select(self, ref: str, element: dict[str, Any], typed: dict[str, Any], field_id: str | None, required) -> str:
        kind = str(element.get("type"))
        name = f"s.{ref}"
        multi = kind.startswith("multi_")
        if kind.endswith(("static_select", "external_select")):
            chosen = self._chosen(element, typed.get(name))
            rows = [
                (str(o.get("value") or ""), self.plain(o.get("text")), str(o.get("value") or "") in chosen)
                for o in options_of(element)
            ]
        else:
            rows = self._directory_rows(kind, element, typed.get(name))
        placeholder = self.plain(element.get("placeholder")) if element.get("placeholder") else "Choose…"
        first = "" if multi else f'<option value="">{placeholder}</option>'
        opts = "".join(f'<option value="{esc(v)}"{" selected" if s else ""}>{label}</option>' for v, label, s in rows)
        attrs = f'id="{esc(field_id or name)}" name="{esc(name)}"' + (" multiple" if multi else "")
        attrs += " required" if required and field_id else ""
        label = "" if field_id else f' aria-label="{placeholder}"'
        select = f"<select {attrs}{label}>{first}{opts}</select>"
        return select + ("" if field_id else self._apply(ref, element, "Choose"))

    def _directory_rows(self, kind: str, element: dict[str, Any], given: Any) -> list[tuple[str, str, bool]]:
        """(value, label, selected) of a users/conversations/channels select: the demo's people or channels."""
        initial: set[str] = set()
        if given is not None:
            initial = set(given if isinstance(given, list) else [given])
        else:
            for key in ("initial_user", "initial_conversation", "initial_channel"):
                if element.get(key):
                    initial.add(element[key])
            for key in ("initial_users", "initial_conversations", "initial_channels"):
                initial |= set(element.get(key) or [])
        pool = self.people if "users" in kind else self.channels
        prefix = "@" if "users" in kind else "#"
        return [(i, esc(prefix + n), i in initial) for i, n in pool]


def _first(typed: Any, default: str) -> str:
    if isinstance(typed, list):
        return str(typed[0]) if typed else ""
    return default if typed is None else str(typed)


def _rich_text(node: Any) -> str:
    if isinstance(node, dict):
        if node.get("type") == "text":
            return str(node.get("text") or "")
        return "".join(_rich_text(e) for e in node.get("elements") or [])
    if isinstance(node, list):
        return "".join(_rich_text(e) for e in node)
    return ""
