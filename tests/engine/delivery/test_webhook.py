"""Webhook notifications against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.delivery import deliver_due
from tests.engine.delivery.helpers import TinyBuilder, options, rows, seed, statuses, utcnow


class Hook:
    """Answers each POST with the next scripted status (200 when the script is empty);
    ``drop`` closes the connection without an answer."""

    def __init__(self) -> None:
        self.script: list[int | str] = []
        self.received: list[tuple[dict[str, Any], str | None]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = hook.script.pop(0) if hook.script else 200
                if answer == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                hook.received.append((json.loads(body), self.headers.get("Idempotency-Key")))
                self.send_response(int(answer))
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"

    def __enter__(self) -> Hook:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    with Hook() as server:
        yield server


def notify(engine: sa.Engine, url: str) -> int:
    [row_id] = seed(engine, ["lead@example.com"], action="notify",
                    payload={"channel": "webhook", "url": url})
    return row_id


def test_webhook_posts_json_with_an_idempotency_key(store: sa.Engine, hook: Hook,
                                                    tmp_path: Path) -> None:
    row_id = notify(store, hook.url)
    report = deliver_due(store, Settings(mail_dir=tmp_path), build=TinyBuilder(),
                         worker=options())
    assert report.counts["sent"] == 1 and statuses(store) == {row_id: "sent"}
    [(body, key)] = hook.received
    assert body["flow"] == "nurture" and body["lead"]["email"] == "lead@example.com"
    assert key == rows(store)[row_id]["message_id"] == body["id"]


def test_webhook_retries_5xx_and_dropped_connections(sqlite_store: sa.Engine, hook: Hook,
                                                     tmp_path: Path) -> None:
    row_id = notify(sqlite_store, hook.url)
    hook.script = [503, "drop"]
    deliver_due(sqlite_store, Settings(mail_dir=tmp_path), build=TinyBuilder(),
                worker=options())
    assert statuses(sqlite_store) == {row_id: "sent"} and len(hook.received) == 2


def test_webhook_gives_up_for_the_run_then_defers(sqlite_store: sa.Engine, hook: Hook,
                                                  tmp_path: Path) -> None:
    row_id = notify(sqlite_store, hook.url)
    hook.script = [500, 500, 500]
    deliver_due(sqlite_store, Settings(mail_dir=tmp_path), build=TinyBuilder(),
                worker=options())
    assert statuses(sqlite_store) == {row_id: "deferred"}
    from datetime import timedelta

    deliver_due(sqlite_store, Settings(mail_dir=tmp_path), build=TinyBuilder(),
                worker=options(), now=utcnow() + timedelta(hours=1))
    assert statuses(sqlite_store) == {row_id: "sent"}


def test_webhook_4xx_fails_without_retry(sqlite_store: sa.Engine, hook: Hook,
                                         tmp_path: Path) -> None:
    row_id = notify(sqlite_store, hook.url)
    hook.script = [404]
    deliver_due(sqlite_store, Settings(mail_dir=tmp_path), build=TinyBuilder(),
                worker=options())
    assert statuses(sqlite_store) == {row_id: "failed"} and len(hook.received) == 1
    assert rows(sqlite_store)[row_id]["last_reply_code"] == 404


def test_a_notification_without_a_target_fails_plainly(sqlite_store: sa.Engine,
                                                       tmp_path: Path) -> None:
    [row_id] = seed(sqlite_store, ["lead@example.com"], action="notify",
                    payload={"channel": "pigeon"})
    deliver_due(sqlite_store, Settings(mail_dir=tmp_path), build=TinyBuilder(),
                worker=options())
    assert statuses(sqlite_store) == {row_id: "failed"}
    assert "pigeon" in rows(sqlite_store)[row_id]["reason"]
