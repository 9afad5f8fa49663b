"""Shared by the condition tests: a folder's definitions covering every kind of value, a store
seeder (SQLAlchemy Core inserts), and hypothesis strategies for random conditions, leads and
events around T."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from hypothesis import strategies as st

from dsl import ast as A
from dsl import symbols
from dsl.parser import parse_source
from engine.conditions.model import Context
from engine.store.schema import enrollments, events, leads
from tests.golden import CASES

T = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
TIMES = (T, dt.datetime(2026, 11, 23, 0, 0, tzinfo=dt.UTC),
         dt.datetime(2026, 11, 23, 23, 59, 59, tzinfo=dt.UTC))

FLOWS = (CASES / "compile" / "definitions.flow").read_text(encoding="utf-8")


def _modules() -> list[A.Module]:
    module, diags = parse_source("definitions.flow", FLOWS)
    assert module is not None, diags
    return [module]


CTX_MODULES = _modules()


def context() -> Context:
    """The definitions, inside flow ``nurture`` (for ``clicked intro`` and ``goal``)."""
    table = symbols.build(CTX_MODULES)
    return Context(table, table.flows["nurture"])


# ---------------------------------------------------------------- seeding


@dataclass
class Lead:
    """One lead as stored: core columns (by column name) and the custom JSON document."""

    columns: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    # Entries into flow `nurture`, oldest first (the last one live): `clicked intro` counts
    # clicks from the latest.
    entries: list[dt.datetime] = field(default_factory=list)


def seed(conn: sa.Connection, people: Sequence[Lead], now: dt.datetime = T) -> list[int]:
    """Replace the store's leads and events with these; returns the lead ids in order."""
    conn.execute(events.delete())
    conn.execute(enrollments.delete())
    conn.execute(leads.delete())
    ids = []
    for i, p in enumerate(people, start=1):
        row = {"id": i, "email": f"lead{i}@example.com", "created_at": now,
               "updated_at": now, **p.columns, "custom": p.custom}
        conn.execute(leads.insert().values(**row))
        ids.append(i)
        if p.events:
            blank = dict.fromkeys(PROPS)
            conn.execute(events.insert(), [{"lead_id": i, **blank, **e} for e in p.events])
        for n, at in enumerate(p.entries, start=1):
            last = n == len(p.entries)
            conn.execute(enrollments.insert().values(
                flow="nurture", version=1, lead_id=i, step="intro",
                state="waiting" if last else "exited", entry_number=n, entered_at=at,
                updated_at=at, ended_at=None if last else at + dt.timedelta(seconds=1)))
    return ids


# ---------------------------------------------------------------- strategies: data

TEXTS = ["lead", "mql", "customer", "Lead", "trading", "maker", "' OR 1=1 --",
         "; DROP TABLE leads", "100%_sure", "a_b", "x/y", "部長", "営業部長", "CEO", "ceo of x",
         "Chief Manager", "manager", "ÄBC", "äbc", ""]
URLS = ["/pricing", "/pricing/plan", "/PRICING", "/blog", "/x%_y", "/a/x%_", "/wp", ""]
EVENT_TYPES = ["email_open", "email_click", "page_view", "download", "form_submit", "seminar",
               "exhibition", "stage_change", "email_sent", "sales_call"]
PROPS: dict[str, list[str]] = {
    "url": URLS, "link": URLS, "template": ["a", "b", "A"], "flow": ["nurture", "other"],
    "step": ["intro", "followup"], "campaign": ["c1", "' OR 1=1 --"],
    "asset": ["wp-1", "WP-2", "case-1", "wp_1"], "name": ["JITW-2024 Tokyo", "seminar a"],
    "form": ["contact", "Contact"], "from_stage": ["lead", "mql"], "to_stage": ["mql", "lead"],
}
DAY = 86_400
NEAR = [0, 1, -1, 5, -5, 7, -7, 10, -10, 30, -30, 60, -60]  # days from today
BOUNDARIES = [0, -1, -DAY, -5 * DAY, -7 * DAY, -10 * DAY, -30 * DAY, -60 * DAY, -3600, 1]


def maybe(s: st.SearchStrategy[Any], p_none: bool = True) -> st.SearchStrategy[Any]:
    return st.none() | s if p_none else s


@st.composite
def an_event(draw: st.DrawFn, at: dt.datetime) -> dict[str, Any]:
    offset = draw(st.integers(-200 * DAY, 2 * DAY) | st.sampled_from(BOUNDARIES))
    row: dict[str, Any] = {"type": draw(st.sampled_from(EVENT_TYPES)),
                           "occurred_at": at + dt.timedelta(seconds=offset),
                           # flagged automated (any kind: conditions skip flagged clicks and
                           # opens only, scores every flagged event)
                           "machine": draw(st.sampled_from([None, None, True]))}
    for column, pool in PROPS.items():
        if draw(st.booleans()):
            row[column] = draw(st.sampled_from(pool))
    return row


def iso(d: dt.date) -> str:
    return d.isoformat()


@st.composite
def a_lead(draw: st.DrawFn, at: dt.datetime) -> Lead:
    text = maybe(st.sampled_from(TEXTS))
    columns = {
        "stage": draw(text), "title": draw(text), "industry": draw(text),
        "employees": draw(maybe(st.sampled_from([0, 1, 2, 50, 99, 100, 499, 500, 10_000]))),
        "consent": draw(maybe(st.booleans())),
        "created_at": at - dt.timedelta(seconds=draw(st.integers(0, 400 * DAY))),
    }
    custom: dict[str, Any] = {}
    today = at.date()
    options: dict[str, st.SearchStrategy[Any]] = {
        "seats": st.sampled_from([5, 40.5, 100, 0, -2]) | st.sampled_from(["40", True, None]),
        "renewal_date": (st.integers(-120, 120) | st.sampled_from(NEAR)).map(
            lambda k: iso(today + dt.timedelta(days=k)))
        | st.sampled_from(["2025-02-30", "2025-1-01", 20250101, "0999-01-01", "soon"]),
        "plan": st.sampled_from(TEXTS) | st.sampled_from([3, False]),
        "vip": st.booleans() | st.sampled_from(["true", 1]),
    }
    for name, strategy in options.items():
        if draw(st.booleans()):
            custom[name] = draw(strategy)
    evs = draw(st.lists(an_event(at), max_size=6))
    # entered before, between or after the lead's events (and on one of their instants)
    moments = st.sampled_from([e["occurred_at"] for e in evs] or [at]) | st.integers(
        -200 * DAY, 0).map(lambda s: at + dt.timedelta(seconds=s))
    entries = sorted(draw(st.lists(moments, max_size=2, unique=True)))
    return Lead(columns, custom, evs, entries)
