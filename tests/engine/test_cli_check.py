"""`engine check` as a user meets it: exit codes, text and JSON output, paths and stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main

GOOD = '''segment leads: stage is "lead"
'''
BAD = '''segment leads: stage is 'lead'
segment big: employees ＞ 500
'''


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_clean_file_exits_0(tmp_path: Path) -> None:
    (tmp_path / "a.flow").write_text(GOOD, encoding="utf-8")
    code, out, err = run("check", str(tmp_path / "a.flow"))
    assert code == 0
    assert "1 file checked, no problems." in out + err


def test_errors_exit_1_and_all_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a.flow").write_text(BAD, encoding="utf-8")
    code, out, _ = run("check", str(tmp_path))
    assert code == 1
    assert out.count(": error[") == 2
    assert "a.flow:1:25: error[E0115]" in out
    assert "a.flow:2:24: error[E0117]" in out


def test_json_format_lists_every_field(tmp_path: Path) -> None:
    (tmp_path / "a.flow").write_text(BAD, encoding="utf-8")
    code, out, _ = run("check", "--format", "json", str(tmp_path / "a.flow"))
    assert code == 1
    data = json.loads(out)
    assert [d["code"] for d in data] == ["E0115", "E0117"]
    first = data[0]
    assert {"file", "line", "column", "severity", "code", "message", "hint"} <= set(first)
    assert (first["line"], first["column"], first["severity"]) == (1, 25, "error")
    assert first["file"].endswith("a.flow")


def test_json_format_when_clean_is_an_empty_list(tmp_path: Path) -> None:
    (tmp_path / "a.flow").write_text(GOOD, encoding="utf-8")
    code, out, _ = run("check", "--format", "json", str(tmp_path))
    assert code == 0 and json.loads(out) == []


def test_stdin(tmp_path: Path) -> None:
    code, out, _ = run("check", "-", stdin=BAD)
    assert code == 1
    assert "<stdin>:1:25: error[E0115]" in out


@pytest.mark.parametrize("args", [["check"], ["check", "/no/such/place"], ["check", "--bogus"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    code, _, _ = run(*args)
    assert code == 2


def test_folder_without_flows_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("check", str(tmp_path))
    assert code == 2 and "no .flow files" in err


def test_naming_one_file_loads_its_folder_for_definitions(tmp_path: Path) -> None:
    (tmp_path / "shared.flow").write_text(BAD, encoding="utf-8")
    (tmp_path / "a.flow").write_text(GOOD, encoding="utf-8")
    code, out, err = run("check", str(tmp_path / "a.flow"))
    # the sibling's errors are not reported when only a.flow is asked for
    assert code == 0, out
    assert "shared.flow" not in out


def test_internal_error_says_it_is_ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.cli.common as common

    def boom(*_: object, **__: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(common, "load", boom)
    (tmp_path / "a.flow").write_text(GOOD, encoding="utf-8")
    code, _, err = run("check", str(tmp_path))
    assert code == 2
    assert "bug in the engine, not in your flows" in err
    assert "Traceback" not in err


def test_help_documents_exit_codes() -> None:
    proc = subprocess.run([sys.executable, "-m", "engine", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0
    assert "Exit codes" in proc.stdout and "usage" in proc.stdout


def test_check_leaves_the_cycle_collector_as_it_found_it(tmp_path) -> None:  # noqa: ANN001
    import gc

    from click.testing import CliRunner

    from engine.cli import main

    (tmp_path / "a.flow").write_text('segment s: stage is "lead"\n', encoding="utf-8")
    assert gc.isenabled()
    CliRunner().invoke(main, ["check", str(tmp_path / "a.flow")])
    assert gc.isenabled()
