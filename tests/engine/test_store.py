"""The lead store's schema, migrations and database selection, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner

from engine.cli import main
from engine.store import db
from engine.store.schema import enrollments, events, identities, leads, metadata

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def add_lead(conn: sa.Connection, email: str = "taro@example.co.jp", **values: object) -> int:
    row = conn.execute(leads.insert().values(email=email, created_at=T0, updated_at=T0, **values)
                       .returning(leads.c.id))
    return int(row.scalar_one())


def test_migrations_create_every_table_and_index(store: sa.Engine) -> None:
    inspector = sa.inspect(store)
    assert set(inspector.get_table_names()) == set(metadata.tables) | {"alembic_version"}
    for table in metadata.sorted_tables:
        reflected = {i["name"]: (i["column_names"], bool(i["unique"]))
                     for i in inspector.get_indexes(table.name)
                     if not i.get("duplicates_constraint")}  # PostgreSQL: a UNIQUE's index
        expected = {i.name: ([c.name for c in i.columns], bool(i.unique)) for i in table.indexes}
        assert reflected == expected, table.name
        uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table.name)}
        expected_uniques = {tuple(c.name for c in u.columns) for u in table.constraints
                            if isinstance(u, sa.UniqueConstraint)}
        assert uniques == expected_uniques, table.name
        assert {c["name"] for c in inspector.get_columns(table.name)} == set(table.c.keys())


def test_the_migrated_schema_is_the_schema_module(store: sa.Engine) -> None:
    with store.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(context, metadata) == []


def test_the_indexes_from_performance_md(store: sa.Engine) -> None:
    inspector = sa.inspect(store)
    events_ix = {tuple(i["column_names"]) for i in inspector.get_indexes("events")}
    leads_ix = {tuple(i["column_names"]) for i in inspector.get_indexes("leads")}
    assert {("lead_id", "type", "occurred_at"), ("type", "occurred_at")} <= events_ix
    assert {("industry", "employees"), ("stage",)} <= leads_ix
    assert ("email",) in {tuple(u["column_names"])
                          for u in inspector.get_unique_constraints("leads")}
    assert inspector.get_foreign_keys("events") == []  # on purpose: see engine/store/schema.py


def test_connect_is_idempotent_and_keeps_data(db_url: str) -> None:
    first = db.connect(db_url)
    with first.begin() as conn:
        add_lead(conn)
    first.dispose()
    second = db.connect(db_url)
    with second.connect() as conn:
        assert db.current_revision(conn) == db.head_revision()
        assert conn.execute(sa.select(leads.c.email)).scalars().all() == ["taro@example.co.jp"]
    assert db.upgrade(second) == db.Upgrade(db.head_revision(), db.head_revision())
    second.dispose()


def test_connect_on_an_up_to_date_database_only_reads_the_revision(db_url: str) -> None:
    db.connect(db_url).dispose()
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        db.connect(db_url).dispose()
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)
    writes = [s for s in statements
              if s.split()[0].upper() in ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE")
              or "advisory" in s]
    assert writes == []
    assert any("alembic_version" in s for s in statements)


def test_processes_starting_at_once_migrate_once(db_url: str) -> None:
    code = ("import sys; from engine.store import db; "
            "e = db.connect(sys.argv[1]); print(db.upgrade(e).after); e.dispose()")
    procs = [subprocess.Popen([sys.executable, "-c", code, db_url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == db.head_revision()
    engine = db.make_engine(db_url)
    with engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()
    assert versions == [(db.head_revision(),)]


def test_a_database_from_a_newer_engine_is_refused(db_url: str) -> None:
    engine = db.connect(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(db.DatabaseError, match="newer engine"):
        db.connect(db_url)
    result = CliRunner().invoke(main, ["db", "upgrade", "--db", db_url])
    assert result.exit_code == 2
    assert "'9999'" in result.output


def test_cli_upgrade_reports_the_revision(db_url: str) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["db", "upgrade", "--db", db_url])
    assert first.exit_code == 0, first.output
    assert f"upgraded to revision {db.head_revision()} (from an empty database)" in first.output
    again = runner.invoke(main, ["db", "upgrade", "--db", db_url])
    assert again.exit_code == 0
    assert f"already at revision {db.head_revision()}, the newest" in again.output


def test_instants_go_in_aware_and_come_out_utc(store: sa.Engine) -> None:
    tokyo = datetime(2026, 4, 1, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    with store.begin() as conn:
        lead = add_lead(conn)
        conn.execute(events.insert().values(lead_id=lead, type="page_view", occurred_at=tokyo,
                                            url="/pricing"))
        stored = conn.execute(sa.select(events.c.occurred_at)).scalar_one()
        assert stored == tokyo and stored.tzinfo == UTC and stored.hour == 0
        later = conn.execute(sa.select(sa.func.count()).where(
            events.c.occurred_at > datetime(2026, 4, 1, 0, 30, tzinfo=UTC))).scalar_one()
        assert later == 0
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), store.begin() as conn:
        conn.execute(events.insert().values(lead_id=lead, type="page_view",
                                            occurred_at=datetime(2026, 4, 1)))


def test_json_documents_round_trip(store: sa.Engine) -> None:
    provenance = {"stage": {"source": "crm", "at": "2026-11-20T09:00:00+00:00"}}
    with store.begin() as conn:
        lead = add_lead(conn, custom={"renewal_date": "2027-03-31", "seats": 40, "部署": "営業"},
                        provenance=provenance)
        add_lead(conn, email="hanako@example.co.jp")
        conn.execute(events.insert().values(lead_id=lead, type="seminar", occurred_at=T0))
        rows = conn.execute(sa.select(leads.c.custom, leads.c.provenance).order_by(leads.c.id))
        assert rows.all() == [({"renewal_date": "2027-03-31", "seats": 40, "部署": "営業"},
                               provenance), ({}, {})]
        assert conn.execute(sa.select(sa.func.count()).where(
            events.c.properties.is_(None))).scalar_one() == 1


def test_uniques_and_cascades(store: sa.Engine) -> None:
    with store.begin() as conn:
        lead = add_lead(conn)
        conn.execute(identities.insert().values(visitor_id="v1", lead_id=lead, first_seen_at=T0,
                                                last_seen_at=T0))
        live = {"flow": "revive", "version": 1, "lead_id": lead, "state": "waiting",
                "entered_at": T0, "updated_at": T0}
        conn.execute(enrollments.insert().values(**live, ended_at=T0, end_reason="goal"))
        conn.execute(enrollments.insert().values(**live))  # one ended and one live: fine
        conn.execute(events.insert().values(lead_id=lead, type="email_open", occurred_at=T0,
                                            dedupe_key="sg-1"))
        conn.execute(events.insert().values(lead_id=lead, type="email_open", occurred_at=T0))
        conn.execute(events.insert().values(lead_id=lead, type="email_open", occurred_at=T0))
    for table, values in [(leads, {"email": "taro@example.co.jp", "created_at": T0,
                                   "updated_at": T0}),
                          (enrollments, live),
                          (events, {"lead_id": lead, "type": "email_open", "occurred_at": T0,
                                    "dedupe_key": "sg-1"})]:
        with pytest.raises(sa.exc.IntegrityError), store.begin() as conn:
            conn.execute(table.insert().values(**values))
    with store.begin() as conn:
        conn.execute(leads.delete().where(leads.c.id == lead))
        assert conn.execute(sa.select(sa.func.count()).select_from(identities)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(enrollments)).scalar_one() == 0
        # No FK on events (bulk loads): deleting a lead's events is the eraser's job.
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one() == 3


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    engine = db.connect(f"sqlite:///{tmp_path}/s.db")
    with engine.connect() as conn:
        pragma = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()
                  for name in ("journal_mode", "foreign_keys", "busy_timeout")}
    engine.dispose()
    assert pragma == {"journal_mode": "wal", "foreign_keys": 1,
                      "busy_timeout": db.SQLITE_BUSY_TIMEOUT_MS}
