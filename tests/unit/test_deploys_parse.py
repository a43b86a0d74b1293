"""The /deploy and /rollback grammar and the deploys' ids (bot/deploys/parse.py, ids.py): no bot, no database."""

from __future__ import annotations

import pytest

from bot.deploys import parse
from bot.deploys.ids import Checklist, RollbackOffer, deploy_id, parse_checklist_block
from bot.errors import Invalid, NotFound, UsageError, answer_for

ENVS = ["staging", "prod"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", parse.Help()),
        ("help", parse.Help()),
        ("status", parse.Status()),
        ("history", parse.History(None, 10)),
        ("history prod 5", parse.History("prod", 5)),
        ("history stg", parse.History("staging", 10)),
        ("staging v1.4.2", parse.Deploy("staging", "v1.4.2", None)),
        ("production v2", parse.Deploy("prod", "v2", None)),
        ('prod v2 --force "staging is down, INC-12"', parse.Deploy("prod", "v2", "staging is down, INC-12")),
        ("prod v2 --force “curly quotes”", parse.Deploy("prod", "v2", "curly quotes")),
        ("unlock prod the pipeline died", parse.Unlock("prod", "the pipeline died")),
    ],
)
def test_deploy_commands(text: str, expected: object) -> None:
    assert parse.parse_deploy(text, ENVS) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("qa v1", "`qa` is not an environment: use staging or prod"),
        ("prod", "name one version"),
        ("prod v1 v2", "name one version"),
        ("prod v1 --force", "--force needs a reason"),
        ("prod v1;rm", "is not a version"),
        ('prod v1 --force "open', "a quote is not closed"),
        ("history 0", "show 1 to 50 deploys"),
        ("history 51", "show 1 to 50 deploys"),
        ("unlock prod", "unlocking needs the environment and a reason"),
        ("status prod", "`status` takes nothing after it"),
    ],
)
def test_bad_deploy_commands_say_why(text: str, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse.parse_deploy(text, ENVS)
    assert says in caught.value.message and answer_for(caught.value).usage  # the usage follows


def test_rollback_command() -> None:
    assert parse.parse_rollback("", ENVS) == parse.Help()
    assert parse.parse_rollback("prod", ENVS) == parse.Rollback("prod", None)
    assert parse.parse_rollback("PROD users see 500s", ENVS) == parse.Rollback("prod", "users see 500s")
    with pytest.raises(UsageError, match="500 characters"):
        parse.parse_rollback("prod " + "x" * 501, ENVS)


def test_button_values_are_parsed_in_one_place() -> None:
    assert deploy_id("42") == 42
    assert parse_checklist_block("deploy:7:staging") == (7, Checklist.STAGING)
    for bad in (
        "deploy:x:pre",
        "deploy:7:later",
        "incident:7:pre",
        "deploy:7",
        "deploy:²:pre",
        "deploy:9" * 10 + ":pre",
    ):
        with pytest.raises(NotFound, match="does not belong to a deploy"):
            parse_checklist_block(bad)
    with pytest.raises(NotFound, match="does not belong to a deploy"):
        deploy_id("seven")
    offer = RollbackOffer("prod", 12, "v1.4.1", "users see 500s")
    assert RollbackOffer.parse(offer.value()) == offer
    for damaged in (
        "",
        "[]",
        '{"env": "prod"}',
        '{"env": "prod", "current": "x"}',
        '{"env": "prod", "current": 1e400}',
    ):
        with pytest.raises(Invalid, match="damaged"):
            RollbackOffer.parse(damaged)


def test_a_rollback_reason_in_any_script_fits_a_button_value() -> None:
    offer = RollbackOffer("prod", 12, "v1.4.1", "결제 오류 " * 100)  # 500 characters, the most a reason may have
    assert len(offer.value()) <= 2000  # Slack refuses a longer button value, and with it the whole offer
    assert RollbackOffer.parse(offer.value()) == offer
