"""The /incident grammar (bot/incidents/parse.py) and the button values (ids.py): no bot, no database."""

from __future__ import annotations

from datetime import date

import pytest

from bot.errors import UsageError
from bot.incidents import ids, parse
from bot.incidents.enums import Severity
from bot.incidents.ids import Action


def test_nothing_opens_the_form_and_help_is_help() -> None:
    assert parse.parse("") == parse.OpenModal()
    assert parse.parse("   ") == parse.OpenModal()
    for word in ("help", "-h", "--help", "?"):
        assert parse.parse(word) == parse.Help()


@pytest.mark.parametrize("token", ["p1", "P2", "p3", "P4"])
def test_a_severity_first_declares(token: str) -> None:
    request = parse.parse(f"{token}   checkout  fails ")
    assert request == parse.Declare(Severity(token.upper()), "checkout fails")
    assert isinstance(request, parse.Declare) and isinstance(request.severity, Severity)


@pytest.mark.parametrize("token", ["p0", "p5", "sev1", "sev", "p", "P12"])
def test_severity_lookalikes_are_refused_not_taken_for_commands(token: str) -> None:
    with pytest.raises(UsageError, match="is not a severity"):
        parse.parse(f"{token} checkout fails")


def test_a_declaration_needs_a_title() -> None:
    with pytest.raises(UsageError, match="a title is missing"):
        parse.parse("p1")


def test_an_over_long_title_is_shortened_and_kept_in_full() -> None:
    words = "database " * 40
    request = parse.parse(f"p2 {words}")
    assert isinstance(request, parse.Declare)
    assert len(request.title) <= parse.MAX_TITLE and request.title.endswith("…")
    assert request.full_text == " ".join(words.split())


def test_in_channel_commands() -> None:
    assert parse.parse("list") == parse.ListOpen()
    assert parse.parse("update  rolled back the deploy") == parse.Update("rolled back the deploy")
    assert parse.parse("severity p1") == parse.ChangeSeverity(Severity.P1)
    assert parse.parse("commander <@U0BOB>") == parse.Commander("U0BOB")
    assert parse.parse("stage mitigation") == parse.Stage("mitigation")
    assert parse.parse("actions") == parse.ListActions()
    assert parse.parse("resolve") == parse.Resolve(None)
    assert parse.parse("resolve bad config, reverted") == parse.Resolve("bad config, reverted")
    assert parse.parse("timeline") == parse.Timeline()
    assert parse.parse("post-mortem") == parse.Postmortem() == parse.parse("postmortem")
    assert parse.parse("public investigating users see errors") == parse.Public("investigating users see errors")
    assert parse.parse("reopen") == parse.Reopen()


def test_words_that_take_nothing_refuse_trailing_text() -> None:
    for text in ("list everything", "timeline please", "reopen now", "actions all"):
        with pytest.raises(UsageError, match="takes nothing after it"):
            parse.parse(text)


def test_missing_and_over_long_text_is_refused() -> None:
    with pytest.raises(UsageError, match="the update text is missing"):
        parse.parse("update   ")
    with pytest.raises(UsageError, match="keep it to 2000"):
        parse.parse("update " + "x" * 2001)
    with pytest.raises(UsageError, match="name the new commander"):
        parse.parse("commander bob")
    with pytest.raises(UsageError, match="is not a severity"):
        parse.parse("severity")


def test_action_items_take_an_owner_and_a_due_date_in_either_order() -> None:
    expected = parse.AddAction("rotate the keys", "U0BOB", date(2027, 1, 5))
    assert parse.parse("action rotate the keys <@U0BOB> due 2027-01-05") == expected
    assert parse.parse("action rotate the keys due 2027-01-05 <@U0BOB>") == expected
    assert parse.parse("action rotate the keys") == parse.AddAction("rotate the keys", None)
    assert parse.parse("action done 3") == parse.ActionDone(3)
    assert parse.parse("action done #12") == parse.ActionDone(12)


def test_bad_action_items_are_refused() -> None:
    with pytest.raises(UsageError, match="is not a date"):
        parse.parse("action rotate the keys due tomorrow")
    with pytest.raises(UsageError, match="say which action item is done"):
        parse.parse("action done three")
    with pytest.raises(UsageError, match="the action text is missing"):
        parse.parse("action <@U0BOB>")


def test_an_unknown_word_suggests_declaring() -> None:
    with pytest.raises(UsageError, match=r"`/incident p2 checkout is slow`"):
        parse.parse("checkout is slow")


def test_button_values_round_trip() -> None:
    assert ids.incident_of(ids.incident_block(42)) == 42
    assert ids.incident_of("42") == 42
    assert ids.incident_of("incident:x") is None
    assert ids.CHECK_ACTION.match(ids.check_action(3))
    assert not ids.CHECK_ACTION.match(Action.CHECK)
    assert ids.stage_of(ids.check_action(3)) == 3
    values = [ids.check_value(2, 0), ids.check_value(2, 7), "junk", "1:2:3"]
    assert ids.items_of(values) == {0, 7}


def test_severity_ranks() -> None:
    assert Severity.P1.worse_than(Severity.P2) and not Severity.P3.worse_than(Severity.P2)
    assert Severity.parse("P4") is Severity.P4 and Severity.parse("p4") is None and Severity.parse(None) is None


def test_run_and_page_keys_share_the_incidents_prefix() -> None:
    assert ids.key(5, 1) == "5:1" and ids.key(5, Severity.P1, "c0ffee", 2) == "5:P1:c0ffee:2"
    assert ids.key(5, "declared", "U0BOB").startswith(ids.prefix(5, "declared"))
    assert not ids.key(51, 1).startswith(ids.prefix(5))  # INC 51's runs are not INC 5's
