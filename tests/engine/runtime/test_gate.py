"""The policy gate at send time: suppressions, consent, never-email, caps with flow priority,
the sending window; deferred, never dropped."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from engine.store.emails import email_hash
from engine.store.schema import leads, suppressions
from tests.engine.runtime.harness import add_lead, days, deliver, folder, intents, store, tick

T0 = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)  # Tuesday 10:00 JST

POLICY = """
policy:
    at most 1 emails per lead per 1 day
    send between 09:00 and 18:00 on business days in lead time zone, default "Asia/Tokyo"
    never email when stage in ("opportunity", "negotiation")
    require consent
    skip public holidays
"""

TWO_FLOWS = """
flow t:
    priority 2
    enter when stage is "lead"
    send "journey/welcome.html"

flow u:
    priority 1
    enter when stage is "lead"
    send "exhibition/case_study.html"
"""


def test_the_higher_priority_flow_wins_the_last_slot_and_the_other_waits(db_url: str) -> None:
    engine = store(db_url)
    f = folder(TWO_FLOWS, POLICY)
    add_lead(engine, "a@example.co.jp", T0 - days(10), stage="lead", time_zone="Asia/Tokyo")
    tick(engine, f, T0)
    got = {r.flow: (r.status, r.next_attempt_at, r.reason) for r in intents(engine)}
    assert got["u"][0] == "pending"  # priority 1
    status, until, reason = got["t"]
    assert status == "deferred" and reason.startswith("over the cap: at most 1 emails")
    deliver(engine, T0)
    # the slot frees a day after the first send, inside the window: Wednesday 10:00 JST
    assert until == T0 + days(1)
    tick(engine, f, T0 + days(1))
    assert {r.flow: r.status for r in intents(engine)} == {"u": "sent", "t": "pending"}


def test_blocked_at_send_time_not_only_at_entry(db_url: str) -> None:
    engine = store(db_url)
    f = folder('flow t:\n    enter when stage is "lead"\n    send "journey/welcome.html"\n',
               POLICY)
    ids = {name: add_lead(engine, f"{name}@example.co.jp", T0 - days(10), stage="lead",
                          **extra)
           for name, extra in (("ok", {}), ("deal", {}), ("nocons", {"consent": None}),
                               ("optout", {"consent": False}), ("unsub", {}),
                               ("nobasis", {"legal_basis": None}),
                               ("night", {"time_zone": "America/New_York", "country": "US"}))}
    with engine.begin() as conn:
        conn.execute(suppressions.insert().values(
            email_hash=email_hash("UNSUB@example.co.jp"), reason="unsubscribe",
            created_at=T0))
        # sales opened a deal after the lead entered a flow elsewhere: checked at send time
        conn.execute(leads.update().where(leads.c.id == ids["deal"]).values(stage="lead"))
    tick(engine, f, T0)
    with engine.begin() as conn:
        conn.execute(leads.update().where(leads.c.id == ids["deal"])
                     .values(stage="negotiation"))
    tick(engine, f, T0 + dt.timedelta(minutes=5))
    got = {r.email.split("@")[0]: (r.status, r.reason) for r in intents(engine)}
    assert got["ok"][0] == "pending"
    assert got["unsub"] == ("suppressed", "suppressed (unsubscribe)")
    assert got["optout"][0] == "suppressed" and "consent is false" in got["optout"][1]
    assert got["nocons"][0] == "suppressed" and "require consent" in got["nocons"][1]
    assert got["nobasis"][0] == "suppressed" and "特定電子メール法" in got["nobasis"][1]
    assert got["night"][0] == "deferred" and "America/New_York" in got["night"][1]
    # the deal lead's email was allowed at 10:00; by 10:05 the stage changed: blocked
    assert got["deal"] == ("suppressed",
                           'never email when stage in ("opportunity", "negotiation")')


def test_deferred_mail_goes_out_when_the_window_opens(db_url: str) -> None:
    engine = store(db_url)
    f = folder('flow t:\n    enter when stage is "lead"\n    send "journey/welcome.html"\n',
               POLICY)
    add_lead(engine, "a@example.co.jp", T0, stage="lead")
    evening = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)  # Friday 19:00 JST
    tick(engine, f, evening)
    [row] = intents(engine)
    monday = dt.datetime(2026, 12, 7, 0, 0, tzinfo=dt.UTC)
    assert (row.status, row.next_attempt_at) == ("deferred", monday)
    tick(engine, f, monday)
    assert [r.status for r in intents(engine)] == ["pending"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(leads)).scalar_one() == 1


def test_a_domain_the_complaint_breaker_paused_is_held_at_the_tick_and_in_the_plan(
        db_url: str) -> None:
    """The tick's gate asks the breaker (engine.runtime.breaker) too, so `engine plan` shows a
    paused domain's sends as held, with the way to resume; a suppressed lead stays blocked."""
    from engine.runtime import breaker
    from tests.engine.runtime.harness import SETTINGS, plan

    engine = store(db_url)
    f = folder('flow t:\n    enter when stage is "lead"\n    send "journey/welcome.html"\n',
               POLICY)
    add_lead(engine, "ok@example.co.jp", T0 - days(10), stage="lead")
    add_lead(engine, "unsub@example.co.jp", T0 - days(10), stage="lead")
    domain = breaker.sending_domain(SETTINGS.sender.address)
    with engine.begin() as conn:
        conn.execute(suppressions.insert().values(
            email_hash=email_hash("unsub@example.co.jp"), reason="unsubscribe", created_at=T0))
        assert breaker.pause(conn, breaker.Rate(domain, 4, 1000, T0 - days(7)), T0,
                             "test") is not None
    planned = {a["email"]: a for a in plan(engine, f, T0) if a["action"] == "send"}
    assert planned["ok@example.co.jp"]["status"] == "deferred"
    assert f"sending paused for {domain}" in planned["ok@example.co.jp"]["reason"]
    tick(engine, f, T0)
    got = {r.email: (r.status, r.reason) for r in intents(engine)}
    assert got["ok@example.co.jp"][0] == "deferred"
    assert f"engine db resume-sending {domain}" in got["ok@example.co.jp"][1]
    assert got["unsub@example.co.jp"] == ("suppressed", "suppressed (unsubscribe)")
    with engine.begin() as conn:
        assert breaker.resume(conn, domain, T0 + dt.timedelta(minutes=5), "test") is not None
    tick(engine, f, T0 + dt.timedelta(minutes=10))
    assert {r.email: r.status for r in intents(engine)}["ok@example.co.jp"] == "pending"


def test_delivery_holds_a_domain_paused_after_the_tick(db_url: str, tmp_path) -> None:  # noqa: ANN001
    """`engine run --once` delivers through the breaker too: a domain paused between the tick
    and delivery (a complaint report arriving meanwhile) gets nothing written to the mail
    folder, and its sends wait with the reason."""
    import dataclasses

    from engine.runtime import breaker
    from engine.runtime.runner import deliver_due
    from tests.engine.runtime.harness import SETTINGS

    settings = dataclasses.replace(SETTINGS, mail_dir=str(tmp_path / "mail"))
    engine = store(db_url)
    f = folder('flow t:\n    enter when stage is "lead"\n    send "journey/welcome.html"\n',
               POLICY)
    add_lead(engine, "ok@example.co.jp", T0 - days(10), stage="lead")
    tick(engine, f, T0)
    assert [r.status for r in intents(engine)] == ["pending"]
    domain = breaker.sending_domain(settings.sender.address)
    with engine.begin() as conn:
        breaker.pause(conn, breaker.Rate(domain, 4, 1000, T0 - days(7)), T0, "test")
    report = deliver_due(engine, f, T0 + dt.timedelta(minutes=1), settings, b"secret")
    assert not list((tmp_path / "mail").glob("**/*.eml"))
    (row,) = intents(engine)
    assert row.status in ("pending", "deferred") and f"sending paused for {domain}" in (
        row.reason or ""), (row.status, row.reason, report)
