"""The relay's reports are their own class of endpoint in the guard: a body cap sized for a batch
of a thousand events (``hook_body``, 1 MiB) and a per-address rate of their own (``rate_hook``),
configurable in ``[tracking.limits]`` like the other limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.config import ConfigError, Settings
from engine.store.schema import webhook_events
from engine.track import create_app
from engine.track.guard import Guard, endpoint_class
from engine.track.settings import Limits, TrackSettings, load_track_settings
from tests.engine.track.conftest import (
    NO_RATE_LIMITS,
    SECRET,
    SITE,
    Clock,
    TestClient,
    make_client,
    rows,
    send_message,
    snapshot,
)
from tests.engine.track.test_hooks import HOOK_SECRET, event, signed


def hook_client(engine: sa.Engine, clock: Clock, limits: Limits) -> TestClient:
    app = create_app(engine, Settings(site_origins=(SITE,), webhook_secret=HOOK_SECRET),
                     TrackSettings(site_origins=(SITE,), limits=limits), secret=SECRET,
                     now=clock)
    return TestClient(app, base_url="https://t.example.co.jp", follow_redirects=False)


def batch(size: int, pad: int) -> bytes:
    """``size`` delivery reports with a remote reason of ``pad`` characters each."""
    return json.dumps([event("delivered", f"r{i}@example.com", f"big-{i}", reason="x" * pad)
                       for i in range(size)]).encode()


def test_hooks_are_their_own_endpoint_class() -> None:
    assert endpoint_class("/hooks/events") == "hook"
    assert endpoint_class("/hooks/anything") == "hook"
    assert endpoint_class("/hooksx") == "other" and endpoint_class("/healthz") == "other"
    guard = Guard(lambda *a: None, Limits(hook_body=5000, other_body=10))  # type: ignore[arg-type]
    assert guard.body_limit("/hooks/events") == 5000 and guard.body_limit("/nothing") == 10
    assert set(guard.limiters) == {"mail", "collect", "form", "hook"}


def test_a_200_kb_signed_batch_is_accepted_with_the_default_limits(
        lite: sa.Engine, clock: Clock) -> None:
    body = batch(1000, 160)
    assert 200_000 <= len(body) <= Limits().hook_body
    with hook_client(lite, clock, replace(Limits(), rate_hook=(1.0, 5))) as client:
        answer = client.post("/hooks/events", content=body, headers=signed(body, clock()))
    assert answer.status_code == 200, answer.text
    assert answer.json()["new"] == 1000
    assert len(rows(lite, webhook_events)) == 1000


def test_a_body_over_the_hook_cap_gets_413_and_changes_nothing(lite: sa.Engine,
                                                               clock: Clock) -> None:
    sent = send_message(lite)
    before = snapshot(lite)
    limits = replace(NO_RATE_LIMITS, hook_body=64 * 1024)
    big = json.dumps([event("complaint", sent.email, f"c-{i}", reason="y" * 200)
                      for i in range(400)]).encode()
    assert len(big) > 64 * 1024

    def streamed() -> Iterator[bytes]:  # no Content-Length: refused while it is read
        for start in range(0, len(big), 8192):
            yield big[start:start + 8192]

    with hook_client(lite, clock, limits) as client:
        declared = client.post("/hooks/events", content=big, headers=signed(big, clock()))
        counted = client.post("/hooks/events", content=streamed(), headers=signed(big, clock()))
        small = batch(10, 10)
        fits = client.post("/hooks/events", content=small, headers=signed(small, clock()))
    assert (declared.status_code, counted.status_code) == (413, 413)
    assert declared.text == "request too large" and "y" * 20 not in counted.text
    assert fits.status_code == 200  # the same server takes a batch under the cap
    after = snapshot(lite)
    assert after == before  # the complaint in the refused body suppressed nobody
    assert len(rows(lite, webhook_events)) == 10


def test_the_other_endpoints_keep_their_small_caps(lite: sa.Engine, clock: Clock) -> None:
    """Raising the hook cap must not raise any other endpoint's."""
    with make_client(lite, clock, replace(NO_RATE_LIMITS, hook_body=1024 * 1024)) as client:
        refused = client.post("/nothing-here", content=b"x" * 2048)
        unsubscribe = client.post("/u/x.y", content=b"x" * 2048, headers={
            "content-type": "application/x-www-form-urlencoded"})
    assert refused.status_code == unsubscribe.status_code == 413


def test_reports_have_a_rate_limit_of_their_own(lite: sa.Engine, clock: Clock) -> None:
    sent = send_message(lite)
    limits = replace(NO_RATE_LIMITS, rate_hook=(0.01, 3))
    body = json.dumps(event("delivered", "r@example.com", "same")).encode()
    with hook_client(lite, clock, limits) as client:
        answers = [client.post("/hooks/events", content=body, headers=signed(body, clock()))
                   for _ in range(6)]
        click = client.get(sent.click(0))  # the mail links' bucket is untouched
    assert [a.status_code for a in answers] == [200] * 3 + [429] * 3
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert click.status_code == 302
    assert len(rows(lite, webhook_events)) == 1


def test_hook_limits_are_configurable(tmp_path: Path) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text("[tracking.limits]\nhook_body = 4194304\nrate_hook = [5, 50]\n",
                    encoding="utf-8")
    limits = load_track_settings((), toml).limits
    assert (limits.hook_body, limits.rate_hook) == (4194304, (5.0, 50))
    assert limits.other_body == Limits().other_body
    for bad in ("hook_body = 0", "hook_body = \"1MB\"", "rate_hook = [5]", "rate_hook = [0, 5]"):
        toml.write_text(f"[tracking.limits]\n{bad}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="hook"):
            load_track_settings((), toml)
