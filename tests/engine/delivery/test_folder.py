"""Without an SMTP URL, messages become .eml files in the mail folder: readable, atomic,
idempotent per Message-ID."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import sqlalchemy as sa

from engine.config import Settings
from engine.delivery import deliver_due
from engine.delivery.folder import Folder
from engine.runtime.gate import Gate
from engine.store.db import write_transaction
from engine.store.schema import outbox
from tests.engine.delivery.helpers import TinyBuilder, options, rows, seed, statuses
from tests.engine.runtime.harness import folder


def test_messages_are_written_as_eml_files_once(store: sa.Engine, tmp_path: Path) -> None:
    ids = seed(store, ["a@example.com", "b@example.com"])
    settings = Settings(mail_dir=tmp_path / "mail")
    report = deliver_due(store, settings, build=TinyBuilder(), worker=options())
    assert report.counts["sent"] == 2
    files = sorted((tmp_path / "mail").iterdir())
    assert [f.name for f in files] == sorted(rows(store)[i]["relay_id"] for i in ids)
    message = message_from_bytes(files[0].read_bytes(), policy=default)
    assert message["Message-ID"] in {r["message_id"] for r in rows(store).values()}
    assert rows(store)[ids[0]]["payload"]["links"]
    assert not [f for f in (tmp_path / "mail").iterdir() if f.name.startswith(".tmp")]


def test_the_folder_settles_unknown_outcomes_by_itself(sqlite_store: sa.Engine,
                                                       tmp_path: Path) -> None:
    """A crash between the write and the commit leaves an unknown row; the file says sent."""
    ids = seed(sqlite_store, ["a@example.com", "b@example.com"])
    mail = tmp_path / "mail"
    settings = Settings(mail_dir=mail)
    deliver_due(sqlite_store, settings, build=TinyBuilder(), worker=options())
    first = (mail / rows(sqlite_store)[ids[0]]["relay_id"])
    first.unlink()  # as if the crash came before the file was linked in
    with write_transaction(sqlite_store) as conn:
        conn.execute(outbox.update().values(status="unknown"))
    report = deliver_due(sqlite_store, settings, build=TinyBuilder(), worker=options())
    assert report.reconciled == 2 and report.counts["sent"] == 1
    assert statuses(sqlite_store) == {ids[0]: "sent", ids[1]: "sent"}
    assert first.exists() and len(list(mail.iterdir())) == 2


def test_writing_the_same_message_twice_keeps_one_file(tmp_path: Path) -> None:
    folder = Folder(tmp_path)
    assert folder.write(b"first", "<x@y>", "f").status == "sent"
    assert folder.write(b"second", "<x@y>", "f").reason == "already in the mail folder"
    assert (tmp_path / "x@y.eml").read_bytes() == b"first" and folder.has("<x@y>")


def test_an_unwritable_folder_defers(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert Folder(blocker / "mail").write(b"x", "<x@y>", "f").status == "deferred"


def test_a_fixed_clock_stamps_the_sent_time(store: sa.Engine, tmp_path: Path) -> None:
    """`engine run --once --at T` delivers with T as now: sends are stamped T, not the
    database's clock, so the caps of the next tick at T + 1 hour count them."""
    at = datetime(2031, 3, 4, 1, 2, 3, tzinfo=UTC)  # years from the database's clock
    ids = seed(store, ["a@example.com", "b@example.com"], at=at)
    report = deliver_due(store, Settings(mail_dir=tmp_path / "mail"), build=TinyBuilder(),
                         now=at, worker=options())
    assert report.counts["sent"] == 2
    assert {i: r["sent_at"] for i, r in rows(store).items()} == {i: at for i in ids}
    cap = folder('flow f:\n    enter when stage is "lead"\n    send "journey/welcome.html"\n',
                 "policy:\n    at most 1 emails per lead per 1 day\n")
    later = seed(store, ["a@example.com"], at=at + timedelta(hours=1))
    with store.connect() as conn:
        row = conn.execute(sa.select(outbox.c.id, outbox.c.lead_id, outbox.c.created_at,
                                     outbox.c.payload).where(outbox.c.id == later[0])).one()
        verdict = Gate(cap).verdicts(conn, [row], at + timedelta(hours=1))[later[0]]
    assert verdict.status == "deferred" and verdict.until == at + timedelta(days=1)
