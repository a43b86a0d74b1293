"""The generic store row mapping (bot/db.py from_row): no database, plain mappings stand in for records."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.db import columns, from_row, json_value


@dataclass(frozen=True)
class Row:
    id: int
    labels: dict[str, str]
    tags: list[str]
    note: str | None = None
    seen: list[int] = field(default_factory=list)


def test_fields_come_from_their_columns_through_the_converters() -> None:
    record = {"id": 7, "labels": '{"team": "db"}', "tags": ("a", "b"), "note": "n", "extra": 1}
    row = from_row(Row, record, labels=json_value, tags=list)
    assert row == Row(7, {"team": "db"}, ["a", "b"], "n")


def test_null_columns_skip_the_converter_and_defaults_fill_missing_columns() -> None:
    row = from_row(Row, {"id": 1, "labels": None, "tags": None}, labels=json_value, tags=list)
    assert row == Row(1, None, None)  # type: ignore[arg-type]


def test_a_missing_column_without_a_default_is_named() -> None:
    with pytest.raises(KeyError, match=r"Row\.labels"):
        from_row(Row, {"id": 1})


def test_json_value_takes_text_or_an_already_decoded_value() -> None:
    assert json_value("[1, 2]") == [1, 2]
    assert json_value({"a": 1}) == {"a": 1}


def test_columns_lists_the_fields_in_order() -> None:
    assert columns(Row) == "id, labels, tags, note, seen"
    assert columns(Row, "r.") == "r.id, r.labels, r.tags, r.note, r.seen"
