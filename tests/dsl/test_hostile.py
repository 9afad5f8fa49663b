"""Hostile input (RELIABILITY T-Q3, T-Q4): every one gets a clear diagnostic, never a crash."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from dsl.parser import MAX_BYTES, decode, parse_source

ENGINE = [sys.executable, "-m", "engine"]


def diagnose(name: str, data: bytes) -> list[str]:
    text, diags = decode(name, data)
    if text is not None:
        _, diags = parse_source(name, text)
    return [d.code for d in diags]


def test_empty_file_is_a_warning_not_a_crash() -> None:
    assert diagnose("e.flow", b"") == ["W0100"]
    assert diagnose("c.flow", b"# only a comment\n\n") == ["W0100"]


def test_binary_file() -> None:
    data = bytes(random.Random(7).randrange(256) for _ in range(4096)) + b"\x00"
    assert diagnose("b.flow", data) == ["E0102"]


def test_ten_megabyte_file_is_refused_quickly() -> None:
    data = (b'segment s: stage is "lead"\n' * (10_000_000 // 27 + 1))
    assert len(data) > MAX_BYTES
    assert diagnose("big.flow", data) == ["E0101"]


def test_thousand_nested_parentheses() -> None:
    src = "segment s: " + "(" * 1000 + 'stage is "lead"' + ")" * 1000 + "\n"
    assert diagnose("p.flow", src.encode()) == ["E0106"]


def test_ten_thousand_nested_parentheses_and_nots() -> None:
    assert "E0106" in diagnose("p.flow", ("segment s: " + "(" * 10_000 + "x > 1\n").encode())
    assert diagnose("n.flow", ("segment s: " + "not " * 5000 + "x > 1\n").encode()) == ["E0106"]


def test_deeply_nested_blocks() -> None:
    lines = ["flow f:", '    enter when stage is "lead"']
    for depth in range(1, 40):
        lines.append("    " * depth + "if x > 1:")
    lines.append("    " * 40 + "exit")
    assert "E0107" in diagnose("d.flow", ("\n".join(lines) + "\n").encode())


def test_shift_jis_file_is_named() -> None:
    src = 'segment 大企業: company contains "株式会社"\n'.encode("cp932")
    text, diags = decode("sjis.flow", src)
    assert text is None and [d.code for d in diags] == ["E0103"]
    assert "Shift_JIS" in (diags[0].hint or "")
    assert diags[0].span.line == 1


def test_utf8_with_bom_is_fine() -> None:
    assert diagnose("bom.flow", '\ufeffsegment s: stage is "リード"\n'.encode()) == []


def test_tab_where_spaces_are_expected() -> None:
    src = b'flow f:\n\tenter when stage is "lead"\n\texit\n'
    assert diagnose("t.flow", src) == ["E0104", "E0104"]


def test_control_characters() -> None:
    assert diagnose("c.flow", b'segment s: stage is "lead"\x1b[31m\n') == ["E0105"]


def test_carriage_returns_are_accepted() -> None:
    src = (b'flow f:\r\n    schedule every day at 09:00\r\n'
           b'    enter when stage is "lead"\r\n    exit\r\n')
    assert diagnose("crlf.flow", src) == []


@pytest.mark.parametrize("name,data,code", [
    ("empty", b"", "W0100"),
    ("binary", b"\x00\x01\x02", "E0102"),
    ("sjis", "segment s: company contains \"株式会社\"\n".encode("cp932"), "E0103"),
    ("tab", b"flow f:\n\tenter when x > 1\n", "E0104"),
])
def test_cli_reports_and_never_tracebacks(tmp_path: Path, name: str, data: bytes,
                                          code: str) -> None:
    f = tmp_path / f"{name}.flow"
    f.write_bytes(data)
    proc = subprocess.run([*ENGINE, "check", str(f)], capture_output=True, text=True,
                          timeout=60)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert f"[{code}]" in out
    assert proc.returncode == (0 if code.startswith("W") else 1)
