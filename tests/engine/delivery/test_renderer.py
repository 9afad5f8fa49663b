"""The real renderer (engine.mail.render) through the worker: what a send and a notification
look like on the wire, parsed back with the stdlib."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.delivery import deliver_due
from engine.delivery.build import renderer_build
from tests.engine.delivery.helpers import SECRET, options, rows, seed
from tests.engine.delivery.sink import FaultSink

render = pytest.importorskip("engine.mail.render")
TEMPLATES = Path(__file__).resolve().parents[3] / "templates"


def test_rendered_messages_go_out_with_their_message_id_and_links(
        sqlite_store: sa.Engine, sink: FaultSink, tmp_path: Path) -> None:
    settings = Settings(smtp_url=sink.url(), mail_dir=tmp_path, templates=TEMPLATES)
    [send] = seed(sqlite_store, ["taro@example.co.jp"])
    [alert] = seed(sqlite_store, ["taro@example.co.jp"], action="notify",
                   payload={"channel": "email", "to": "owner@example.co.jp"})
    with sqlite_store.begin() as conn:
        conn.execute(sa.text("UPDATE outbox SET template = 'alerts/revived.txt' WHERE id = :i"),
                     {"i": alert})
    build = renderer_build(render.Renderer(settings, SECRET))
    report = deliver_due(sqlite_store, settings, build=build, worker=options())
    assert report.counts["sent"] == 2, rows(sqlite_store)
    state = rows(sqlite_store)
    by_id = {r.message_id: message_from_bytes(r.content, policy=default) for r in sink.received}
    marketing = by_id[state[send]["message_id"]]
    assert marketing["To"].addresses[0].addr_spec == "taro@example.co.jp"
    assert marketing["List-Unsubscribe"] and marketing.is_multipart()
    assert state[send]["payload"]["links"]  # what /c/{token}/{i} redirects to
    note = by_id[state[alert]["message_id"]]
    assert note["To"].addresses[0].addr_spec == "owner@example.co.jp"
