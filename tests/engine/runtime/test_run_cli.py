"""`engine run`, `engine plan` and `engine simulate` from the command line, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def engine(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, text=True,
                            capture_output=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    here = tmp_path_factory.mktemp("demo")
    (here / "flows").symlink_to(ROOT / "flows")
    (here / "templates").symlink_to(ROOT / "templates")
    engine("demo", "--reset", "--leads", "600", "--at", "2026-12-01T00:00:00Z", cwd=here)
    return here


def test_plan_json_contract_and_markdown(demo: Path) -> None:
    out = engine("plan", "flows", "--at", "2026-12-01T01:00:00Z", "--format", "json", cwd=demo)
    doc = json.loads(out.stdout)
    assert set(doc) >= {"at", "actions", "counts"} and doc["actions"]
    for action in doc["actions"]:
        assert {"flow", "step", "action", "email"} <= set(action)
        if action["action"] == "send":
            assert action["template"] and action["why"]
    md = engine("plan", "flows", "--at", "2026-12-01T01:00:00Z", "--format", "markdown",
                cwd=demo).stdout
    assert md.startswith("## Plan at 2026-12-01T01:00:00+00:00") and "| flow | step |" in md


def test_run_once_then_plan_again_shows_nothing_new(demo: Path) -> None:
    at = "2026-12-01T01:00:00Z"
    planned = json.loads(engine("plan", "flows", "--at", at, "--format", "json",
                                cwd=demo).stdout)
    engine("run", "flows", "--once", "--no-deliver", "--at", at, cwd=demo)
    again = json.loads(engine("plan", "flows", "--at", at, "--format", "json", cwd=demo).stdout)
    fresh = [a for a in again["actions"] if a["action"] not in ("send", "notify")]
    assert fresh == []  # hand-offs, sets, tags and exits happened once
    sends = {(a["flow"], a["step"], a["email"], a["status"]) for a in planned["actions"]
             if a["action"] == "send"}
    still = {(a["flow"], a["step"], a["email"], a["status"]) for a in again["actions"]
             if a["action"] == "send"}
    # not delivered (--no-deliver): the same intents with the same verdicts, no new ones
    assert still == sends and any(s[3] == "will send" for s in sends)


def test_usage_errors(demo: Path) -> None:
    bad = engine("run", "flows", "--at", "2026-12-01", cwd=demo, check=False)
    assert bad.returncode == 2 and "--at needs --once" in bad.stderr
    bad = engine("plan", "flows", "--at", "yesterday", cwd=demo, check=False)
    assert bad.returncode == 2 and "--at 'yesterday'" in bad.stderr
    bad = engine("simulate", "flows", "--from", "2026-12-01", "--to", "2026-12-05",
                 "--every", "0d", cwd=demo, check=False)
    assert bad.returncode == 2 and "--every" in bad.stderr
    bad = engine("simulate", "flows", "--from", "2026-12-01", "--to", "soon", cwd=demo,
                 check=False)
    assert bad.returncode == 2 and "--to 'soon' is not a date" in bad.stderr


def test_simulate_to_a_date_takes_in_that_whole_day(demo: Path) -> None:
    out = engine("simulate", "flows", "--from", "2026-12-02", "--to", "2026-12-03",
                 "--every", "12h", "--format", "json", cwd=demo)
    days = json.loads(out.stdout)
    assert [d["day"] for d in days] == ["2026-12-02", "2026-12-03"]
    assert days[0]["ticks"] == days[1]["ticks"] > 0  # 00:00 and 12:00 on both days


@pytest.mark.slow
def test_simulate_changes_nothing(demo: Path) -> None:
    db = demo / "nurture.db"
    before = db.stat().st_size, os.path.getmtime(db)
    out = engine("simulate", "flows", "--from", "2026-12-02T00:00:00Z", "--to",
                 "2026-12-09T00:00:00Z", "--format", "json", cwd=demo)
    days = json.loads(out.stdout)
    assert len(days) >= 7 and sum(d["ticks"] for d in days) > 7
    assert sum(d["sent"] for d in days) > 0
    plan_after = engine("plan", "flows", "--at", "2026-12-02T00:00:00Z", "--format", "json",
                        cwd=demo)
    assert json.loads(plan_after.stdout)["at"]
    assert db.stat().st_size == before[0]


def test_run_stops_cleanly_on_sigterm(demo: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "engine", "run", "flows", "--no-deliver"],
                            cwd=demo, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        lines = []
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "running" in line:
                break
        assert any("revive_dormant" in line for line in lines)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out


def test_plan_out_writes_plan_and_previews(demo: Path, tmp_path: Path) -> None:
    from email import policy
    from email.parser import BytesParser

    out = tmp_path / "review"
    engine("plan", "flows", "--at", "2026-12-01T01:00:00Z", "--out", str(out), cwd=demo)
    assert json.loads((out / "plan.json").read_text(encoding="utf-8"))["actions"]
    assert (out / "plan.md").read_text(encoding="utf-8").startswith("## Plan at")
    emls = sorted((out / "previews").rglob("*.eml"))
    assert emls, "a preview per sample recipient"
    for eml in emls:
        message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
        assert message["Subject"] and message["List-Unsubscribe"]
        stem = eml.name[: -len(".eml")]
        assert (eml.parent / f"{stem}.html").exists() and (eml.parent / f"{stem}.txt").exists()
