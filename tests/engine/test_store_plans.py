"""Query plans: the audience shapes of PERFORMANCE.md use the indexes meant for them.

A small seeded store (2,000 leads, 20,000 events), statistics gathered (ANALYZE) first. On
PostgreSQL ``enable_seqscan`` is switched off: on a table this small a sequential scan can be the
cheapest plan, so the test shows that the index is *usable* for the shape, which is what the
schema owes the compiler; which plan wins at 1M leads is measured in bench/.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from dsl.schema import ACTIVITY_TYPES
from engine.store import db
from engine.store.explain import explain
from engine.store.fields import attribute, event_property
from engine.store.schema import events, leads
from tests.pg import PgServer

T = datetime(2026, 11, 23, tzinfo=UTC)
BY_LEAD = "ix_events_lead_id_type_occurred_at"
BY_TYPE = "ix_events_type_occurred_at"
_names = itertools.count(1)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def seeded(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('plans')}/plans.db"
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        url = server.create_database(name := f"plans_{next(_names)}")
    engine = db.connect(url)
    rnd = random.Random(7)
    with engine.begin() as conn:
        conn.execute(leads.insert(), [
            {"email": f"lead{i}@example.com", "created_at": T, "updated_at": T,
             "industry": rnd.choice(["it", "maker", "finance", "retail", "logistics"]),
             "employees": rnd.choice([10, 50, 200, 800, 3000]),
             "stage": rnd.choice(["lead", "customer", "opportunity", "recycle"])}
            for i in range(2000)])
        conn.execute(events.insert(), [
            {"lead_id": rnd.randint(1, 2000), "type": rnd.choice(ACTIVITY_TYPES + ("email_sent",)),
             "occurred_at": T - timedelta(days=rnd.uniform(0, 730)),
             "url": rnd.choice(["/pricing", "/blog/x", "/"])}
            for _ in range(20000)])
        conn.exec_driver_sql("ANALYZE")
    yield engine
    engine.dispose()
    if request.param == "postgresql":
        server.drop_database(name)


def plan(engine: sa.Engine, stmt: sa.Select[tuple[int]], *off: str) -> str:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            for setting in ("enable_seqscan", *off):
                conn.exec_driver_sql(f"SET LOCAL {setting} = off")
        return "\n".join(explain(conn, stmt))


def uses(text: str, index: str) -> bool:
    # SQLite: "SEARCH events USING INDEX ix_..." / "USING COVERING INDEX ix_..."
    # PostgreSQL: "Index Scan using ix_..." / "Bitmap Index Scan on ix_..."
    return any(f"{how} {index}" in text for how in ("INDEX", "using", "Scan on"))


def fit() -> sa.ColumnElement[bool]:
    return sa.and_(attribute("industry").expr.in_(["it", "maker", "finance"]),
                   attribute("employees").expr >= 500)


def pricing_views(window: timedelta) -> list[sa.ColumnElement[bool]]:
    return [events.c.type == "page_view", events.c.occurred_at > T - window,
            events.c.occurred_at <= T, event_property("url").expr.like("/pricing%")]


def test_attribute_filter_uses_industry_employees(seeded: sa.Engine) -> None:
    text = plan(seeded, sa.select(leads.c.id).where(fit()))
    assert uses(text, "ix_leads_industry_employees"), text


def test_windowed_count_leads_first_probes_lead_type_time(seeded: sa.Engine) -> None:
    """SQLite's best shape (PERFORMANCE.md Q2): selective lead filter, then a correlated count
    per lead on (lead_id, type, occurred_at)."""
    count = (sa.select(sa.func.count()).select_from(events)
             .where(events.c.lead_id == leads.c.id, *pricing_views(timedelta(days=90)))
             .scalar_subquery())
    text = plan(seeded, sa.select(leads.c.id).where(fit(), count >= 5))
    assert uses(text, BY_LEAD), text
    assert uses(text, "ix_leads_industry_employees"), text
    if seeded.dialect.name == "sqlite":
        assert f"{BY_LEAD} (lead_id=? AND type=? AND occurred_at>? AND occurred_at<?)" in text


def test_windowed_count_events_first_scans_type_time(seeded: sa.Engine) -> None:
    """PostgreSQL's best shape (Q2): one aggregate over the window's events, (type, time)."""
    active = (sa.select(events.c.lead_id).where(*pricing_views(timedelta(days=90)))
              .group_by(events.c.lead_id).having(sa.func.count() >= 5))
    text = plan(seeded, sa.select(leads.c.id).where(fit(), leads.c.id.in_(active)))
    assert uses(text, BY_TYPE), text
    if seeded.dialect.name == "sqlite":
        assert f"{BY_TYPE} (type=? AND occurred_at>? AND occurred_at<?)" in text


def dormant() -> sa.Select[tuple[int]]:
    """Q3: customers with no activity in 180 days, as NOT EXISTS (never NOT IN)."""
    recent = sa.exists().where(events.c.lead_id == leads.c.id,
                               events.c.type.in_(ACTIVITY_TYPES),
                               events.c.occurred_at > T - timedelta(days=180),
                               events.c.occurred_at <= T)
    return sa.select(leads.c.id).where(attribute("stage").expr == "customer", ~recent)


def test_dormancy_not_exists_uses_the_indexes(seeded: sa.Engine) -> None:
    text = plan(seeded, dormant())
    assert uses(text, "ix_leads_stage"), text
    if seeded.dialect.name == "sqlite":
        assert f"{BY_LEAD} (lead_id=? AND type=? AND occurred_at>? AND occurred_at<?)" in text
    else:
        # PostgreSQL turns NOT EXISTS into an anti join; hashing the window's events through
        # (type, occurred_at) or probing (lead_id, type, occurred_at) per lead are both good.
        assert "Anti Join" in text and (uses(text, BY_TYPE) or uses(text, BY_LEAD)), text
        assert "Seq Scan on events" not in text


@pytest.mark.pg
@pytest.mark.parametrize("seeded", ["postgresql"], indirect=True)  # SQLite always probes per lead
def test_dormancy_per_lead_probe_is_available_on_postgresql(seeded: sa.Engine) -> None:
    # Without hash and merge joins PostgreSQL must probe per lead: the index serves that too.
    text = plan(seeded, dormant(), "enable_hashjoin", "enable_mergejoin")
    assert "Nested Loop Anti Join" in text and uses(text, BY_LEAD), text


def test_plans_and_results_agree_across_shapes(seeded: sa.Engine) -> None:
    count = (sa.select(sa.func.count()).select_from(events)
             .where(events.c.lead_id == leads.c.id, *pricing_views(timedelta(days=90)))
             .scalar_subquery())
    active = (sa.select(events.c.lead_id).where(*pricing_views(timedelta(days=90)))
              .group_by(events.c.lead_id).having(sa.func.count() >= 2))
    with seeded.connect() as conn:
        leads_first = conn.execute(sa.select(leads.c.id).where(fit(), count >= 2)).scalars()
        events_first = conn.execute(
            sa.select(leads.c.id).where(fit(), leads.c.id.in_(active))).scalars()
        assert sorted(leads_first) == sorted(events_first) != []
