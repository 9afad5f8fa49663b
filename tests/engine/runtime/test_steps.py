"""Every step kind, run through real ticks against a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from engine.runtime.tick import assign_split
from engine.store.schema import events, lead_tags, leads
from tests.engine.runtime.harness import (
    add_event,
    add_lead,
    days,
    deliver,
    enrollment,
    folder,
    intents,
    journal_events,
    plan,
    store,
    tick,
)

T0 = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)

NURTURE = """
flow t:
    enter when stage is "lead"
    exit when stage is "opportunity"
    send intro "dormant/intro.html"
    wait until clicked intro or 3 days
    if clicked intro:
        add tag "clicked"
    else:
        send resend "dormant/intro_resend.html"
    wait 2 days
    exit "done"
"""


def test_a_link_scanner_s_click_neither_wakes_a_wait_nor_takes_the_clicked_branch(
        db_url: str) -> None:
    """The tracking server flags a scanner's click (``machine``); `wait until clicked intro`
    waits on for a person's, and the branch after the timeout is the not-clicked one."""
    engine = store(db_url)
    f = folder(NURTURE)
    scanned = add_lead(engine, "scanned@example.co.jp", T0 - days(30), stage="lead")
    person = add_lead(engine, "person@example.co.jp", T0 - days(30), stage="lead")
    tick(engine, f, T0)
    deliver(engine, T0)
    for lead in (scanned, person):  # the scanner's click, seconds after delivery
        add_event(engine, lead, "email_click", T0 + dt.timedelta(seconds=2), flow="t",
                  step="intro", link="https://example.com/a", machine=True)
    add_event(engine, person, "email_click", T0 + days(1), flow="t", step="intro",
              link="https://example.com/a")
    tick(engine, f, T0 + days(1) + dt.timedelta(hours=1))
    assert enrollment(engine, scanned).state == "waiting"
    tick(engine, f, T0 + days(3) + dt.timedelta(hours=1))
    with engine.connect() as conn:
        tags = conn.execute(sa.select(lead_tags.c.lead_id, lead_tags.c.tag)).all()
    assert [(r.lead_id, r.tag) for r in tags] == [(person, "clicked")]
    assert [r.email for r in intents(engine, step="resend")] == ["scanned@example.co.jp"]

def test_send_wait_branch_and_exit(db_url: str) -> None:
    engine = store(db_url)
    f = folder(NURTURE)
    clicker = add_lead(engine, "a@example.com", T0 - days(30), stage="lead")
    quiet = add_lead(engine, "b@example.com", T0 - days(30), stage="lead")
    add_lead(engine, "c@example.com", T0 - days(30), stage="customer")
    report = tick(engine, f, T0)
    assert report.ticks[0].entered == 2
    assert [(r.email, r.step, r.template) for r in intents(engine)] == [
        ("a@example.com", "intro", "dormant/intro.html"),
        ("b@example.com", "intro", "dormant/intro.html")]
    deliver(engine, T0)
    # the click wakes the wait early, at the next tick; the quiet lead waits for the timeout
    add_event(engine, clicker, "email_click", T0 + days(1), flow="t", step="intro",
              link="https://example.com/a")
    tick(engine, f, T0 + days(1) + dt.timedelta(hours=1))
    with engine.connect() as conn:
        tags = conn.execute(sa.select(lead_tags.c.lead_id, lead_tags.c.tag)).all()
    assert [(r.lead_id, r.tag) for r in tags] == [(clicker, "clicked")]
    assert enrollment(engine, quiet).state == "waiting"
    tick(engine, f, T0 + days(3) + dt.timedelta(hours=1))
    assert [r.email for r in intents(engine, step="resend")] == ["b@example.com"]
    tick(engine, f, T0 + days(6))
    assert enrollment(engine, clicker).state == "exited"
    assert enrollment(engine, clicker).end_reason == "done"
    assert journal_events(engine, quiet) == [
        ("entered", "intro"), ("send", "intro"), ("waited", "intro+1"), ("branch", "intro+2"),
        ("send", "resend"), ("waited", "intro+3"), ("exit", "intro+4")]


def test_exit_condition_cancels_pending_sends(db_url: str) -> None:
    engine = store(db_url)
    f = folder(NURTURE)
    lead = add_lead(engine, "a@example.com", T0 - days(30), stage="lead")
    tick(engine, f, T0)
    with engine.begin() as conn:
        conn.execute(leads.update().values(stage="opportunity"))
    tick(engine, f, T0 + dt.timedelta(hours=1))
    row = enrollment(engine, lead)
    assert (row.state, row.end_reason) == ("exited", 'exit when stage is "opportunity"')
    assert [(r.status, r.reason) for r in intents(engine)] == [
        ("cancelled", 'exit when stage is "opportunity"')]


def test_same_tick_twice_does_nothing_the_second_time(db_url: str) -> None:
    engine = store(db_url)
    f = folder(NURTURE)
    for i in range(30):
        add_lead(engine, f"l{i}@example.com", T0 - days(30), stage="lead")
    first = tick(engine, f, T0)
    assert first.ticks[0].entered == 30
    before = [tuple(r) for r in intents(engine)]
    again = tick(engine, f, T0)
    assert again.ticks[0].entered == 0 and again.ticks[0].advanced == 0
    assert [tuple(r) for r in intents(engine)] == before


SERIES = """
flow t:
    enter when stage is "customer"
    goal when clicked any email
    repeat every 30 days until goal, at most 3 times:
        send monthly next of ("dormant/case_study.html", "dormant/tips.html")
    notify owner or team cs "alerts/churn_risk.txt"

    on goal:
        set stage to "mql"
        handoff to inside_sales by hot priority, at most 1 per day

team cs:
    email "cs@example.co.jp"
    webhook "https://hooks.example.co.jp/cs"

team inside_sales:
    email "inside@example.co.jp"

priority hot:
    1: employees >= 500
    2: otherwise
"""


def test_repeat_series_notify_goal_handoff(db_url: str) -> None:
    engine = store(db_url)
    f = folder(SERIES)
    owned = add_lead(engine, "owned@example.com", T0 - days(400), stage="customer",
                     owner="tanaka@example.co.jp")
    orphan = add_lead(engine, "orphan@example.com", T0 - days(400), stage="customer")
    t = T0
    for _ in range(4):
        tick(engine, f, t)
        deliver(engine, t)
        t += days(30)
    sent = [(r.email, r.template) for r in intents(engine, action="send")]
    # the series sends each template once, then nothing; three rounds, two templates
    assert sent.count(("owned@example.com", "dormant/case_study.html")) == 1
    assert sent.count(("owned@example.com", "dormant/tips.html")) == 1
    assert len(sent) == 4
    notes = [(r.email, r.payload["channel"], r.payload.get("to") or r.payload.get("url"))
             for r in intents(engine, action="notify")]
    assert ("owned@example.com", "email", "tanaka@example.co.jp") in notes
    assert ("orphan@example.com", "email", "cs@example.co.jp") in notes
    assert ("orphan@example.com", "webhook", "https://hooks.example.co.jp/cs") in notes
    assert enrollment(engine, owned).state == "completed"
    del orphan


def test_goal_runs_on_goal_and_handoff_capacity_keeps_priority_order(db_url: str) -> None:
    engine = store(db_url)
    f = folder(SERIES)
    small = add_lead(engine, "small@example.com", T0 - days(400), stage="customer",
                     employees=20)
    big = add_lead(engine, "big@example.com", T0 - days(400), stage="customer", employees=900)
    tick(engine, f, T0)
    deliver(engine, T0)
    for lead in (small, big):
        add_event(engine, lead, "email_click", T0 + days(1), link="https://example.com/")
    tick(engine, f, T0 + days(2))
    with engine.connect() as conn:
        stages = dict(conn.execute(sa.select(leads.c.email, leads.c.stage)).all())
        changes = conn.execute(sa.select(events.c.lead_id, events.c.from_stage,
                                         events.c.to_stage).where(
            events.c.type == "stage_change")).all()
    assert stages == {"small@example.com": "mql", "big@example.com": "mql"}
    assert sorted((r.from_stage, r.to_stage) for r in changes) == [("customer", "mql")] * 2
    handoffs = {r.email: (r.status, r.payload["rank"]) for r in intents(engine, action="handoff")}
    # capacity 1 per day: the enterprise lead (rank 1) goes first, the other waits, not lost
    assert handoffs == {"big@example.com": ("sent", 1), "small@example.com": ("deferred", 2)}
    tick(engine, f, T0 + days(3))
    handoffs = {r.email: r.status for r in intents(engine, action="handoff")}
    assert handoffs == {"big@example.com": "sent", "small@example.com": "sent"}
    assert enrollment(engine, big).state == "goal"


SPLIT = """
flow t:
    enter when stage is "lead"
    split offer:
        a 50%:
            send "exhibition/case_study.html"
        b 30%:
            send "exhibition/seminar_invite.html"
        holdout 20%
"""


def test_split_is_deterministic_and_recorded(db_url: str) -> None:
    engine = store(db_url)
    f = folder(SPLIT)
    ids = [add_lead(engine, f"l{i}@example.com", T0, stage="lead") for i in range(200)]
    tick(engine, f, T0)
    got = {r.lead_id: r.template for r in intents(engine)}
    branches = [(n, p, 0) for n, p in (("a", 50.0), ("b", 30.0), ("holdout", 20.0))]
    for lead in ids:
        name, _ = assign_split(lead, "t", "offer", branches)
        expected = {"a": "exhibition/case_study.html", "b": "exhibition/seminar_invite.html",
                    "holdout": None}[name]
        assert got.get(lead) == expected
        assert enrollment(engine, lead).counters["offer#branch"] == name
    shares = [sum(1 for i in ids if assign_split(i, "t", "offer", branches)[0] == n)
              for n in ("a", "b", "holdout")]
    assert 70 <= shares[0] <= 130 and 35 <= shares[1] <= 85 and 20 <= shares[2] <= 60


WAIT_DATE = """
attributes:
    renewal_date: date

flow t:
    enter when renewal_date is known
    wait until renewal_date - 30 days
    send "renewal/intro.html"
"""


def test_wait_until_a_date_follows_the_attribute(db_url: str) -> None:
    engine = store(db_url)
    f = folder(WAIT_DATE)
    lead = add_lead(engine, "r@example.com", T0, custom={"renewal_date": "2027-03-01"})
    tick(engine, f, T0)
    assert intents(engine) == []
    # the CRM moves the renewal forward: the wait follows it
    with engine.begin() as conn:
        conn.execute(leads.update().values(custom={"renewal_date": "2027-01-10"}))
    tick(engine, f, dt.datetime(2026, 12, 10, 1, tzinfo=dt.UTC))
    assert intents(engine) == []  # 2027-01-10 - 30 days is 2026-12-11
    tick(engine, f, dt.datetime(2026, 12, 11, 1, tzinfo=dt.UTC))
    assert [r.template for r in intents(engine)] == ["renewal/intro.html"]
    assert enrollment(engine, lead).state == "completed"


def test_plan_shows_what_the_tick_does_and_writes_nothing(db_url: str) -> None:
    engine = store(db_url)
    f = folder(NURTURE)
    for i in range(5):
        add_lead(engine, f"l{i}@example.com", T0, stage="lead")
    planned = plan(engine, f, T0)
    assert intents(engine) == [] and enrollment(engine, 1) is None
    tick(engine, f, T0)
    done = {(r.flow, r.step, r.action, r.email, r.template) for r in intents(engine)}
    assert {(a["flow"], a["step"], a["action"], a["email"], a.get("template"))
            for a in planned} == done
    assert all(a["why"][0]["event"] == "entered" for a in planned)
    assert planned[0]["values"] == {"stage": "lead"}


@pytest.mark.parametrize("edit, expect", [
    ("wait 3 days", ("waiting", None)),  # label kept: stays put
    ("", ("exited", "step `intro+1` was removed in version 2")),
])
def test_editing_a_live_flow(db_url: str, edit: str, expect: tuple[str, str | None]) -> None:
    engine = store(db_url)
    v1 = folder('flow t:\n    enter when stage is "lead"\n    send intro "dormant/intro.html"\n'
                '    wait 7 days\n    send "dormant/tips.html"\n')
    lead = add_lead(engine, "a@example.com", T0, stage="lead")
    tick(engine, v1, T0)
    assert enrollment(engine, lead).step == "intro+1"
    v2 = folder('flow t:\n    enter when stage is "lead"\n    send intro "dormant/intro.html"\n'
                + (f"    {edit}\n" if edit else "") + '    send "dormant/tips.html"\n')
    tick(engine, v2, T0 + days(1))
    row = enrollment(engine, lead)
    assert (row.state, row.end_reason) == expect
    assert row.version == 2


def test_plan_reports_enrollments_a_change_strands(db_url: str) -> None:
    from engine.runtime.runner import make_plan
    from tests.engine.runtime.harness import SETTINGS

    engine = store(db_url)
    v1 = folder('flow t:\n    enter when stage is "lead"\n    send intro "dormant/intro.html"\n'
                '    wait 7 days\n    send "dormant/tips.html"\n')
    for i in range(3):
        add_lead(engine, f"l{i}@example.com", T0, stage="lead")
    tick(engine, v1, T0)
    v2 = folder('flow t:\n    enter when stage is "lead"\n    send intro "dormant/intro.html"\n'
                '    send "dormant/tips.html"\n')
    result = make_plan(engine, v2, T0 + days(1), SETTINGS, subjects=False).to_json()
    assert result["stranded"] == [{"flow": "t", "step": "intro+1", "enrollments": 3,
                                   "goes_to": "exit", "reason": "step `intro+1` was removed"}]


def test_check_with_a_store_warns_of_enrollments_a_change_strands(db_url: str,
                                                                  tmp_path) -> None:  # noqa: ANN001
    import json
    from pathlib import Path

    from click.testing import CliRunner

    from engine.cli import main

    TEMPLATES = Path(__file__).resolve().parents[3] / "templates"  # noqa: N806
    engine = store(db_url)
    v1 = ('flow t:\n    schedule every weekday at 09:00\n    enter when stage is "lead"\n'
          '    send intro "dormant/intro.html"\n    wait 7 days\n    send "dormant/tips.html"\n')
    for i in range(3):
        add_lead(engine, f"l{i}@example.com", T0, stage="lead")
    tick(engine, folder(v1), T0)
    flows = tmp_path / "flows"
    flows.mkdir()
    removed = v1.replace("    wait 7 days\n", "")
    (flows / "t.flow").write_text(removed, encoding="utf-8")

    def check(*extra: str) -> tuple[int, list[dict[str, object]]]:
        result = CliRunner().invoke(main, ["check", str(flows), "--format", "json",
                                           "--templates", str(TEMPLATES), *extra])
        return result.exit_code, json.loads(result.stdout)

    assert check() == (0, [])  # without a store, the flow alone is fine
    code, diags = check("--db", db_url)
    assert code == 0  # a warning: the next tick would end them, which may be what is wanted
    assert [(d["code"], d["line"]) for d in diags] == [("W0113", 1)]
    assert "3 live enrollments of flow `t` sit at `intro+1`" in str(diags[0]["message"])
    assert 'move "intro+1" to STEP' in str(diags[0]["hint"])
    # a `move` line says where they go: nothing to warn of
    (flows / "t.flow").write_text(removed + '    move "intro+1" to exit "wait removed"\n',
                                  encoding="utf-8")
    assert check("--db", db_url) == (0, [])
    with engine.connect() as conn:  # read only: nothing moved yet
        assert conn.execute(sa.text("SELECT count(*) FROM enrollments WHERE step = 'intro+1' "
                                    "AND ended_at IS NULL")).scalar_one() == 3
    # a store that cannot be read: a usage error naming it, not a crash
    bad = CliRunner().invoke(main, ["check", str(flows), "--templates", str(TEMPLATES), "--db",
                                    f"sqlite:///{tmp_path / 'nothing' / 'x.db'}"])
    assert bad.exit_code == 2 and "cannot read the live enrollments" in bad.output


def test_explain_shows_what_the_engine_did_and_why(db_url: str, tmp_path) -> None:  # noqa: ANN001
    import json

    from click.testing import CliRunner

    from engine.cli import main

    engine = store(db_url)
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "t.flow").write_text(NURTURE, encoding="utf-8")
    f = folder(NURTURE)
    add_lead(engine, "a@example.com", T0 - days(30), stage="lead")
    tick(engine, f, T0)
    result = CliRunner().invoke(main, ["explain", "a@example.com", str(flows), "--db", db_url,
                                       "--format", "json", "--at", T0.isoformat()])
    assert result.exit_code == 0, result.output
    history = json.loads(result.output)["history"]
    assert [(h["event"], h["step"]) for h in history] == [
        ("entered", "intro"), ("send", "intro"), ("send pending", "intro")]
    assert history[0]["reason"] == 'enter when stage is "lead"'


def test_move_takes_stranded_enrollments_where_the_author_says(db_url: str) -> None:
    engine = store(db_url)
    v1 = folder('flow t:\n    enter when stage is "lead"\n    send intro "dormant/intro.html"\n'
                '    wait 7 days\n    send tips "dormant/tips.html"\n')
    moved = add_lead(engine, "a@example.com", T0, stage="lead")
    tick(engine, v1, T0)
    v2 = folder('flow t:\n    enter when stage is "lead"\n    move "intro+1" to tips\n'
                '    send intro "dormant/intro.html"\n    send tips "dormant/tips.html"\n')
    report = tick(engine, v2, T0 + days(1))
    assert report.ticks[0].moved == 1
    assert [r.template for r in intents(engine)] == ["dormant/intro.html", "dormant/tips.html"]
    assert enrollment(engine, moved).state == "completed"
    assert ("moved", "tips") in journal_events(engine, moved)


def test_a_click_from_an_earlier_run_does_not_end_the_wait_of_a_new_one(db_url: str) -> None:
    """`wait until clicked intro`: after re-entry, last run's click is not this run's."""
    engine = store(db_url)
    f = folder('flow t:\n    enter when stage is "lead"\n    re-enter after 30 days\n'
               '    send intro "dormant/intro.html"\n    wait until clicked intro or 3 days\n'
               '    if clicked intro:\n        exit "clicked"\n    exit "quiet"\n')
    lead = add_lead(engine, "a@example.com", T0 - days(30), stage="lead")
    tick(engine, f, T0)
    deliver(engine, T0)
    add_event(engine, lead, "email_click", T0 + days(1), flow="t", step="intro",
              link="https://example.com/a")
    tick(engine, f, T0 + days(1) + dt.timedelta(hours=1))
    first = enrollment(engine, lead)
    assert (first.state, first.end_reason) == ("exited", "clicked")
    again = T0 + days(40)
    tick(engine, f, again)  # re-enters: a new intro, and a wait that last run's click cannot end
    second = enrollment(engine, lead)
    assert second.id != first.id and second.state == "waiting"
    deliver(engine, again)
    tick(engine, f, again + days(3) + dt.timedelta(hours=1))
    assert (enrollment(engine, lead).state, enrollment(engine, lead).end_reason) == (
        "exited", "quiet")
