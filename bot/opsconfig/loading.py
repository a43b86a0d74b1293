"""Loading the ops config: the built-in manual, a file's sections in its place, every problem with its line."""

from __future__ import annotations

from datetime import date, time, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.opsconfig.config import OpsConfig

DEFAULT_PATH = Path(__file__).parent.parent / "default.yml"


class ConfigError(Exception):
    """The config is invalid; str() names each bad field (and line, for a file)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _load_yaml(text: str, source: str) -> tuple[dict[str, Any], yaml.Node | None]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError([f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        raise ConfigError([f"{source}:1: the config must be a mapping of sections"])
    return data, node


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Walk the YAML node tree along a pydantic error location; the deepest line found."""
    line = None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


# What each pattern in this file asks for, in words (pydantic would print the regular expression).
_PATTERN_WORDS = {
    r"^[a-z0-9_]{1,40}$": "an id of 1 to 40 lowercase letters, digits or _",
    r"^[a-z0-9_-]{1,20}$": "1 to 20 lowercase letters, digits, - or _",
    r"^[a-z0-9][a-z0-9-]{0,39}$": "a slug: up to 40 lowercase letters, digits or -, not starting with -",
    r"^S[A-Z0-9]{2,}$": "a Slack user group id (like S0ONCALL)",
}


def _message(err: Any) -> str:
    if err["type"] == "string_pattern_mismatch":
        wanted = _PATTERN_WORDS.get(err.get("ctx", {}).get("pattern"), "in the expected form")
        return f"{err['input']!r} is not {wanted}"
    if err["type"] == "extra_forbidden":
        return "unknown field"
    return str(err["msg"]).removeprefix("Value error, ")


def _merge(base: Any, override: Any) -> Any:
    """`override` over `base`, field by field: mappings merge key by key, anything else (a list too) replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return override


def _read(path: Path | str) -> str:
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read: {exc.strerror}"]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            [f"{source}:{line}: not UTF-8 text (byte {raw[exc.start]:#04x}): save the file as UTF-8"]
        ) from None


def load(path: Path | str | None = None) -> OpsConfig:
    """The built-in config, with what `path` (if given) sets in place of the defaults, field by field.

    A section in the file changes only the fields it names (lists are replaced whole). Every problem is
    reported at once (unknown sections with the rest), each with its field and line.
    """
    merged, _ = _load_yaml(DEFAULT_PATH.read_text(encoding="utf-8"), "default.yml")
    node = None
    source = "default.yml"
    problems: list[str] = []
    if path is not None:
        source = str(path)
        override, node = _load_yaml(_read(path), source)
        known = sorted(OpsConfig.model_fields)
        for key in sorted(set(override) - set(known)):
            problems.append(f"{source}:{_line_of(node, (key,))}: {key}: unknown section (sections: {', '.join(known)})")
            del override[key]
        merged = _merge(merged, override)
    try:
        config = OpsConfig.model_validate(merged)
    except ValidationError as exc:
        overridden = set() if node is None else {k.value for k, _ in node.value}
        for err in exc.errors():
            loc = err["loc"]
            field = ".".join(str(p) for p in loc) or "config"
            line = _line_of(node, loc) if node is not None and loc and loc[0] in overridden else None
            where = f"{source}:{line}" if line else source
            problems.append(f"{where}: {field}: {_message(err)}")
    if problems:
        raise ConfigError(problems)
    return config


def effective(path: Path | str, config: OpsConfig) -> list[tuple[str, str]]:
    """What the file at `path` sets, each field with its value in `config` (the file over the defaults).

    A mapping in the file is followed down to the fields it names; a list or a value is shown whole.
    """
    override, _ = _load_yaml(_read(path), str(path))
    values = config.model_dump(by_alias=True)
    found: list[tuple[str, str]] = []

    def walk(given: Any, value: Any, where: tuple[str, ...]) -> None:
        if isinstance(given, dict) and given and isinstance(value, dict):
            for key in given:
                if key in value:
                    walk(given[key], value[key], (*where, str(key)))
        else:
            found.append((".".join(where), _show(value)))

    for section in override:
        if section in values:
            walk(override[section], values[section], (str(section),))
    return found


def _show(value: Any) -> str:
    """A value as one would write it in the config: 30m, "10:00", [P1, P2]."""

    def plain(v: Any) -> Any:
        if isinstance(v, timedelta):
            seconds = int(v.total_seconds())
            parts = [(seconds // 86400, "d"), (seconds % 86400 // 3600, "h"), (seconds % 3600 // 60, "m")]
            text = "".join(f"{n}{unit}" for n, unit in parts if n) + (f"{seconds % 60}s" if seconds % 60 else "")
            return text or "0s"
        if isinstance(v, time):
            return v.strftime("%H:%M")
        if isinstance(v, date):
            return v.isoformat()
        if isinstance(v, Enum):
            return v.value
        if isinstance(v, dict):
            return {plain(k): plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v

    text = yaml.safe_dump(plain(value), default_flow_style=True, allow_unicode=True, sort_keys=False, width=10**6)
    return text.removesuffix("\n...\n").strip()
