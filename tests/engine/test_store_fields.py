"""The allowlist from language names to SQL (engine.store.fields), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from dsl.schema import CORE_ATTRIBUTES, EVENT_PROPERTIES
from engine.store.emails import email_hash, normalise_email
from engine.store.fields import UnknownField, attribute, custom_value, event_property
from engine.store.schema import events, leads

T0 = datetime(2026, 1, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 04:30 on 2 Jan UTC
CUSTOM = {"renewal": "date", "seats": "number", "plan": "text", "trial": "boolean"}
DIALECTS = [sqlite.dialect(), postgresql.psycopg.dialect()]


def test_every_core_attribute_has_a_typed_column() -> None:
    for name, kind in CORE_ATTRIBUTES.items():
        field = attribute(name)
        assert field.type == kind and not field.custom
        assert field.column is not None and field.column.table is leads


def test_every_event_property_has_a_column() -> None:
    for name in EVENT_PROPERTIES:
        field = event_property(name)
        assert field.type == "text"
        assert field.column is not None and field.column.table is events
    assert event_property("from").expr is events.c.from_stage
    assert event_property("to").expr is events.c.to_stage


@pytest.mark.parametrize("name", ["id", "custom", "provenance", "updated_at", "leads",
                                  "email; DROP TABLE leads", "stage--", "", "Email"])
def test_nothing_else_is_an_attribute(name: str) -> None:
    with pytest.raises(UnknownField):
        attribute(name)
    with pytest.raises(UnknownField):
        attribute(name, custom={})


@pytest.mark.parametrize("name", ["lead_id", "type", "properties", "source", "dedupe_key",
                                  "from_stage", "occurred_at", "url)"])
def test_nothing_else_is_an_event_property(name: str) -> None:
    with pytest.raises(UnknownField):
        event_property(name)


@pytest.mark.parametrize("name, kind", [("a'b", "text"), ('a"b', "text"), ("a.b", "text"),
                                        ("1st", "number"), ("stage", "text"), ("x", "json"),
                                        ("x", "datetime")])
def test_custom_attributes_need_a_name_and_a_type(name: str, kind: str) -> None:
    with pytest.raises(UnknownField):
        custom_value(leads.c.custom, name, kind)


def test_tables_are_checked() -> None:
    alias = leads.alias("l2")
    assert attribute("stage", table=alias).column is alias.c.stage
    with pytest.raises(UnknownField):
        attribute("stage", table=events)
    with pytest.raises(UnknownField):
        event_property("url", table=leads)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_custom_names_are_bound_parameters_never_sql(dialect: sa.Dialect) -> None:
    name = "役職_renewal"
    stmt = sa.select(leads.c.id).where(attribute(name, {name: "date"}).expr < date(2026, 1, 1))
    compiled = stmt.compile(dialect=dialect)
    assert name not in str(compiled)
    assert name in compiled.params.values()


def test_other_dialects_are_refused() -> None:
    stmt = sa.select(attribute("seats", CUSTOM).expr)
    with pytest.raises(sa.exc.CompileError, match="SQLite and PostgreSQL only"):
        stmt.compile(dialect=mysql.dialect())


def test_custom_values_are_typed_and_guarded_alike(store: sa.Engine) -> None:
    documents = [
        {"renewal": "2025-02-28", "seats": 3, "plan": "pro", "trial": True},
        {"renewal": "2025-02-30", "seats": "3", "plan": 4, "trial": "true"},  # wrong types
        {"renewal": "0999-01-01", "seats": 2.5, "trial": False},
        {},
        {"renewal": "2024-02-29", "seats": 1e3, "plan": "", "trial": None},
        {"renewal": "2025-13-01"}, {"renewal": "2025-04-01T00:00:00"}, {"renewal": "2025-2-1"},
        {"renewal": "2025-02-29"}, {"renewal": 20250101}, {"seats": [1]}, {"plan": {"x": 1}},
    ]
    with store.begin() as conn:
        for i, doc in enumerate(documents):
            conn.execute(leads.insert().values(email=f"l{i}@example.com", created_at=T0,
                                               updated_at=T0, custom=doc))
        columns = [attribute(name, CUSTOM).expr for name in CUSTOM]
        rows = conn.execute(sa.select(*columns).order_by(leads.c.id)).all()
        nothing = (None, None, None, None)
        assert [tuple(r) for r in rows] == [
            (date(2025, 2, 28), 3.0, "pro", True), nothing, (None, 2.5, None, False), nothing,
            (date(2024, 2, 29), 1000.0, "", None), nothing, nothing, nothing, nothing, nothing,
            nothing, nothing,
        ]
        found = conn.execute(sa.select(leads.c.email).where(
            attribute("renewal", CUSTOM).expr < date(2025, 3, 1),
            attribute("seats", CUSTOM).expr > 2)).scalars().all()
        assert found == ["l0@example.com", "l4@example.com"]
        assert conn.execute(sa.select(leads.c.email).where(
            attribute("trial", CUSTOM).expr.is_(False))).scalars().all() == ["l2@example.com"]


def test_created_at_compares_by_utc_calendar_date(store: sa.Engine) -> None:
    with store.begin() as conn:
        conn.execute(leads.insert().values(email="a@example.com", created_at=T0, updated_at=T0))
        created = attribute("created_at")
        assert created.type == "date" and created.column is leads.c.created_at
        assert conn.execute(sa.select(created.expr)).scalar_one() == date(2026, 1, 2)
        assert conn.execute(sa.select(sa.func.count()).where(
            created.expr == date(2026, 1, 2))).scalar_one() == 1
        assert conn.execute(sa.select(leads.c.created_at)).scalar_one() == datetime(
            2026, 1, 2, 4, 30, tzinfo=UTC)


def test_email_normalisation_and_hash() -> None:
    assert normalise_email("  Ｔａｒｏ@Example.CO.JP\t") == "taro@example.co.jp"
    assert email_hash("TARO@example.co.jp ") == email_hash("taro@example.co.jp")
    assert len(email_hash("x@y")) == 64
