"""Demo data (engine.demo, `engine demo`) and the benchmark loader (bench/gen_store.py)."""

from __future__ import annotations

import argparse
import collections
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from bench import gen_store
from engine.cli import main
from engine.conditions.compile import count_query
from engine.conditions.sqlite_math import ensure_power
from engine.demo import CHUNK, EVENT_FIELDS, LEAD_FIELDS, generate
from engine.demo.audiences import flow_audiences
from engine.demo.store import StoreNotEmpty, counts, fill
from engine.store import db
from engine.store.schema import events, leads

AT = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
T = int(AT.timestamp())
DAY = 86_400
FLOWS = Path(__file__).resolve().parents[2] / "flows"
F = {name: i for i, name in enumerate(LEAD_FIELDS)}


@pytest.fixture(scope="module")
def data() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    rows: list[tuple[Any, ...]] = []
    evs: list[tuple[Any, ...]] = []
    for chunk in generate(5000, 1, T):
        rows += chunk.leads
        evs += chunk.events
    return rows, evs


def test_the_same_seed_gives_the_same_rows_and_another_seed_others() -> None:
    first = [(c.leads, c.events) for c in generate(1500, 7, T)]
    assert first == [(c.leads, c.events) for c in generate(1500, 7, T)]
    assert first != [(c.leads, c.events) for c in generate(1500, 8, T)]
    # Chunks are independent: a parallel loader generating chunk 1 alone gets the same rows.
    alone = next(generate(1500, 7, T, chunks=range(1, 2)))
    assert (alone.leads, alone.events) == first[1]
    assert len(first) == 2 and len(alone.leads) == 1500 - CHUNK


def test_leads_look_like_a_japanese_b2b_list(data: tuple[list[Any], list[Any]]) -> None:
    rows, _ = data
    n = len(rows)
    emails = [r[F["email"]] for r in rows]
    assert len(set(emails)) == n
    assert {e.split("@")[1] for e in emails} == {"example.com", "example.co.jp", "example.jp"}
    assert all(e == e.lower() and " " not in e for e in emails)
    employees = [r[F["employees"]] for r in rows]
    known = [e for e in employees if e is not None]
    tiers = collections.Counter("sole" if e < 2 else "smb" if e < 100 else "midsize" if e < 500
                                else "enterprise" for e in known)
    assert 0.40 < tiers["smb"] / len(known) < 0.60  # "about half are SMB"
    assert tiers["midsize"] > tiers["enterprise"] > tiers["sole"] > 0
    assert 0.05 < (n - len(known)) / n < 0.2  # some unknown
    stages = collections.Counter(r[F["stage"]] for r in rows)
    assert set(stages) == {"lead", "mql", "sql", "opportunity", "negotiation", "customer",
                           "recycle", "dormant", "churned", None}
    assert stages["lead"] > stages["customer"] > stages["negotiation"]
    companies = [r[F["company"]] for r in rows]
    assert any(c.startswith("株式会社") for c in companies)
    assert any(c.endswith("株式会社") for c in companies)
    assert any(c.endswith(("Co., Ltd.", "Inc.", "Pte. Ltd.")) for c in companies)
    titles = {r[F["title"]] for r in rows}
    assert {"代表取締役社長", "部長", "課長", "主任", "CEO", "Manager", "Staff", None} <= titles
    consent = collections.Counter(r[F["consent"]] for r in rows)
    assert 0.8 < consent[True] / n < 0.92 and consent[False] and consent[None]
    countries = collections.Counter(r[F["country"]] for r in rows)
    assert countries["JP"] / n > 0.8 and countries["US"] and countries["SG"]
    assert all(r[F["owner"]] is None or r[F["owner"]].endswith("@example.co.jp") for r in rows)
    opted_in = [r[F["legal_basis"]] for r in rows if r[F["country"]] == "JP" and r[F["consent"]]]
    assert 0.85 < sum(b is not None for b in opted_in) / len(opted_in) < 0.99  # T-I7 finds a few
    renewals = [dt.date.fromisoformat(r[F["custom"]]["renewal_date"]) for r in rows
                if "renewal_date" in r[F["custom"]]]
    assert len(renewals) > n * 0.15
    assert max(renewals) - AT.date() > dt.timedelta(days=2 * 365)  # spread over 3 years
    # COPY writes texts unescaped (bench/rawrows.py): no tab, newline or backslash anywhere.
    texts = [v for r in rows for v in r if isinstance(v, str)]
    assert not any(ch in t for t in texts for ch in "\t\n\r\\")


def test_events_have_the_patterns_the_flows_look_for(data: tuple[list[Any], list[Any]]) -> None:
    rows, evs = data
    kinds = collections.Counter(e[1] for e in evs)
    assert 15 < len(evs) / len(rows) < 25  # the shape of PERFORMANCE.md's 20 per lead
    assert 0.10 <= kinds["email_open"] / kinds["email_sent"] <= 0.20
    assert 0.01 <= kinds["email_click"] / kinds["email_sent"] <= 0.03
    created = {r[0]: r[F["created_at"]] for r in rows}
    # CRM facts go back to the lead's creation (a badge scan may come a little before it).
    assert all(created[e[0]] - 31 * DAY <= e[2] < T for e in evs)
    web = [e for e in evs if e[-1] == "tracking"]
    assert min(e[2] for e in web) > T - 2 * 366 * DAY  # two years of web history
    activity = {"email_open", "email_click", "page_view", "download", "form_submit", "seminar",
                "exhibition"}
    last: dict[int, int] = {}
    for e in evs:
        if e[1] in activity:
            last[e[0]] = max(last.get(e[0], 0), e[2])
    customers = [r[0] for r in rows if r[F["stage"]] == "customer"]
    quiet = [c for c in customers if last.get(c, 0) < T - 180 * DAY]
    assert 0.4 < len(quiet) / len(customers) < 0.7  # many dormant-looking customers
    recycled = {e[0] for e in evs if e[1] == "stage_change" and e[EVENT_FIELDS.index(
        "to_stage")] == "recycle" and e[2] > T - 2 * DAY}
    assert recycled
    names = {e[EVENT_FIELDS.index("name")] for e in evs if e[1] == "exhibition"}
    assert {"JITW-2024-autumn", "JITW-2025-autumn", "JITW-2026-spring"} <= names
    texts = [v for e in evs for v in e if isinstance(v, str)]
    assert not any(ch in t for t in texts for ch in "\t\n\r\\")


@pytest.fixture
def store(db_url: str) -> Iterator[sa.Engine]:
    engine = db.connect(db_url)
    ensure_power(engine)
    yield engine
    engine.dispose()


def test_fill_stores_the_generated_rows_and_every_flow_has_an_audience(
        store: sa.Engine) -> None:
    result = fill(store, 2000, 1, AT)
    expected = [(c.leads, c.events) for c in generate(2000, 1, T)]
    assert result.leads == 2000
    assert result.events == sum(len(e) for _, e in expected) > 30_000
    with store.connect() as conn:
        assert counts(conn) == (2000, result.events)
        row = conn.execute(sa.select(leads).where(leads.c.id == 17)).mappings().one()
        generated = dict(zip(LEAD_FIELDS, expected[0][0][16], strict=True))
        for name in ("email", "company", "employees", "title", "stage", "consent", "custom",
                     "legal_basis"):
            assert row[name] == generated[name]
        assert row["created_at"] == dt.datetime.fromtimestamp(generated["created_at"], dt.UTC)
        assert conn.execute(sa.select(sa.func.max(events.c.occurred_at))).scalar_one() < AT
        sizes = {a.flow: conn.execute(count_query(a.condition, a.context, AT, store))
                 .scalar_one() for a in flow_audiences(FLOWS)}
    assert len(sizes) == 7
    assert all(n > 0 for n in sizes.values()), sizes
    with pytest.raises(StoreNotEmpty, match="already holds 2,000 leads"):
        fill(store, 10, 2, AT)


def test_the_cli_fills_an_empty_store_and_refuses_a_filled_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/demo.db"
    runner = CliRunner()
    args = ["demo", "--db", url, "--leads", "300", "--at", "2026-11-23", "--flows", str(FLOWS)]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "300 leads" in first.output
    assert "Entry audiences" in first.output and "revive_dormant" in first.output
    again = runner.invoke(main, args + ["--seed", "2"])
    assert again.exit_code == 2
    assert "already holds 300 leads" in again.output and "--reset" in again.output
    engine = db.connect(url)
    with engine.connect() as conn:
        before = conn.execute(sa.select(leads.c.email).order_by(leads.c.id)).scalars().all()
    assert len(before) == 300
    reset = runner.invoke(main, args + ["--seed", "2", "--reset", "--leads", "200"])
    assert reset.exit_code == 0, reset.output
    with engine.connect() as conn:
        after = conn.execute(sa.select(leads.c.email).order_by(leads.c.id)).scalars().all()
    engine.dispose()
    assert len(after) == 200 and after != before[:200]
    bad = runner.invoke(main, ["demo", "--db", url, "--at", "next week"])
    assert bad.exit_code == 2 and "--at" in bad.output


def _rows(engine: sa.Engine) -> tuple[list[Any], list[Any]]:
    lead_cols = [c for c in leads.c if c.name != "provenance"]
    event_cols = [c for c in events.c if c.name != "id"]
    with engine.connect() as conn:
        lead_rows = conn.execute(sa.select(*lead_cols).order_by(leads.c.id)).all()
        event_rows = conn.execute(sa.select(*event_cols)).all()
    return [tuple(r) for r in lead_rows], sorted(tuple(r) for r in event_rows)


def test_the_benchmark_loader_stores_what_the_demo_stores(db_url: str, tmp_path: Path) -> None:
    """bench/gen_store.py writes raw text (COPY / executemany); read back through SQLAlchemy it
    must equal the demo written through the store's own column types. A tiny size only."""
    via_demo = db.connect(f"sqlite:///{tmp_path}/via_demo.db")
    fill(via_demo, 150, 3, AT)
    args = argparse.Namespace(leads=150, seed=3, at=T, workers=0, replace=False)
    if db_url.startswith("sqlite"):
        gen_store.load_sqlite(Path(db_url.removeprefix("sqlite:///")), args)
    else:
        gen_store.load_postgresql(db_url, args)
    raw = db.connect(db_url)
    try:
        assert _rows(raw) == _rows(via_demo)
    finally:
        raw.dispose()
        via_demo.dispose()
