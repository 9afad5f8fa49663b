"""The formatter's promises: goldens, ``fmt(fmt(x)) == fmt(x)``, ``parse(fmt(x)) == parse(x)``,
every comment kept, and the ``engine fmt`` verb's exit codes and file handling.

A golden case (tests/cases/fmt/*.flow) is the input, a line ``# output``, then the expected
text; ``REGEN_GOLDENS=1`` rewrites the part after the marker.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl import ast as A
from dsl.comments import scan
from dsl.formatter import format_module, format_source, number, quote
from dsl.parser import parse_source
from engine.cli import main
from tests.dsl import strategies as S
from tests.golden import CASES, assert_golden, regen

MARKER = "# output\n"
ROOT = CASES.parent.parent
FLOWS = ROOT / "flows"
KITCHEN_SINK = CASES / "parse" / "kitchen_sink.flow"


def golden_cases() -> list[Path]:
    return sorted((CASES / "fmt").glob("*.flow"))


def split_case(path: Path) -> tuple[str, str]:
    text = path.read_text(encoding="utf-8")
    cut = 0 if text.startswith(MARKER) else text.index("\n" + MARKER) + 1
    return text[:cut], text[cut + len(MARKER):]


def formatted(text: str, path: str = "t.flow") -> str:
    out, diags = format_source(path, text)
    assert out is not None, diags
    return out


def comment_texts(text: str) -> Counter[str]:
    return Counter(c.text for c in scan(text))


def assert_faithful(text: str, path: str = "t.flow") -> str:
    """The three promises for one text: same tree, idempotent, same comments."""
    before, _ = parse_source(path, text)
    out = formatted(text, path)
    after, diags = parse_source(path, out)
    assert not [d for d in diags if d.is_error], diags
    assert after == before, out
    assert formatted(out, path) == out
    assert comment_texts(out) == comment_texts(text)
    return out


# ------------------------------------------------------------------ goldens and real files


def test_there_are_enough_golden_cases() -> None:
    assert len(golden_cases()) >= 12


@pytest.mark.parametrize("case", golden_cases(), ids=lambda p: p.stem)
def test_golden(case: Path) -> None:
    source, expected = split_case(case)
    actual = formatted(source, case.name)
    if not regen():
        assert actual == expected
    assert_golden(source + MARKER + actual, case)


@pytest.mark.parametrize("case", golden_cases(), ids=lambda p: p.stem)
def test_golden_is_faithful(case: Path) -> None:
    source, _ = split_case(case)
    assert_faithful(source, case.name)


@pytest.mark.parametrize("case", [*golden_cases(), KITCHEN_SINK], ids=lambda p: p.stem)
def test_without_the_text_comments_are_still_kept(case: Path) -> None:
    """``format_module`` without ``source`` estimates line extents from spans: placement may
    differ from ``format_source`` (a lone ``)`` line looks blank) but nothing is lost."""
    source = split_case(case)[0] if case.parent.name == "fmt" else case.read_text(encoding="utf-8")
    module, _ = parse_source(case.name, source)
    assert module is not None
    out = format_module(module, scan(source))
    assert parse_source(case.name, out)[0] == module
    assert comment_texts(out) == comment_texts(source)


def test_kitchen_sink_is_faithful() -> None:
    assert_faithful(KITCHEN_SINK.read_text(encoding="utf-8"), KITCHEN_SINK.name)


def repo_flows() -> list[Path]:
    return sorted(FLOWS.rglob("*.flow")) if FLOWS.is_dir() else []


@pytest.mark.parametrize("flow", repo_flows(), ids=lambda p: str(p.relative_to(ROOT)))
def test_repo_flow_is_faithful(flow: Path) -> None:
    text = flow.read_text(encoding="utf-8")
    module, _ = parse_source(flow.name, text)
    if module is None:
        pytest.skip("does not parse (being written?); the checker's tests report it")
    assert_faithful(text, flow.name)


# ------------------------------------------------------------------ details


def test_empty_and_comment_only_files() -> None:
    assert formatted("") == ""
    assert formatted("\n\n  \n") == ""
    assert formatted("  # a\n\n\n# b  \n") == "# a\n\n# b\n"


def test_carriage_returns_become_newlines() -> None:
    assert formatted("segment s: x>1  # c\r\n\r\n\r\nsegment t: y\r\n") == (
        "segment s: x > 1  # c\n\nsegment t: y\n")


def test_unparsable_text_gives_diagnostics() -> None:
    out, diags = format_source("bad.flow", "segment s x\n")
    assert out is None and diags and diags[0].is_error


@pytest.mark.parametrize("value", [0, 7, 10**15, 0.5, 2.0, 1e-7, 1e16, 123456.789, 5e-324])
def test_numbers_read_back_as_the_same_value(value: int | float) -> None:
    text = f"segment s: x > {number(value)}\n"
    module, _ = parse_source("n.flow", text)
    assert module is not None
    seg = module.items[0]
    assert isinstance(seg, A.Segment) and isinstance(seg.condition, A.Compare)
    right = seg.condition.right
    assert isinstance(right, A.Num) and right.value == value
    assert type(right.value) is type(value)


def test_quote_escapes() -> None:
    assert quote('a"b\\c\nd\te') == '"a\\"b\\\\c\\nd\\te"'


def test_nested_and_keeps_its_parentheses() -> None:
    a, b, c = (A.SegmentRef(n) for n in "abc")
    cases: list[tuple[A.Condition, str]] = [
        (A.And((A.And((a, b)), c)), "(a and b) and c"),
        (A.And((a, A.And((b, c)))), "a and (b and c)"),
        (A.Or((A.Or((a, b)), c)), "(a or b) or c"),
        (A.Or((A.And((a, b)), c)), "a and b or c"),
        (A.And((A.Or((a, b)), c)), "(a or b) and c"),
        (A.Not(A.Not(a)), "not not a"),
        (A.And((A.Not(a), b)), "not a and b"),
        (A.Not(A.Or((a, b))), "not (a or b)"),
    ]
    for cond, text in cases:
        module = A.Module("p.flow", (A.Segment("s", None, cond),))
        out = format_module(module, [])
        assert out == f"segment s: {text}\n"
        assert parse_source("p.flow", out)[0] == module


def test_hyphenated_keywords_after_a_block() -> None:
    # after a block a name may start a line (a split branch); `re-enter` must not lex as `re`
    module, diags = parse_source("r.flow", "flow f:\n    if x:\n        exit\n    re-enter never\n")
    assert module is not None, diags


# ------------------------------------------------------------------ properties

PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(PROPERTY, max_examples=1000)


def check_round_trip(m: A.Module) -> None:
    text = format_module(m, [])
    back, diags = parse_source(m.path, text)
    assert diags == [], (text, diags)
    assert back == m, text
    assert formatted(text, m.path) == text


comment_bodies = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
                         max_size=12).map(lambda s: ("# " + s).rstrip())


def breakable(line: str) -> list[int]:
    """Where a line may be broken: after ``(`` or ``,`` inside parentheses, outside texts."""
    spots, depth, in_text, escaped = [], 0, False, False
    for i, ch in enumerate(line):
        if in_text:
            in_text, escaped = (escaped or ch != '"'), (not escaped and ch == "\\")
            continue
        if ch == "#":
            break
        in_text = ch == '"'
        depth += (ch == "(") - (ch == ")")
        if ch in "(," and depth > 0:
            spots.append(i + 1)
    return spots


def check_comments_survive(m: A.Module, data: st.DataObject) -> None:
    """Sprinkle comments (full-line at any indentation, trailing), blank lines and line breaks
    inside parentheses over the formatted text; every comment must come back, nothing else may
    change, and the result must be a fixed point."""
    inserted: list[str] = []

    def comment(spaces: int) -> str:
        body = data.draw(comment_bodies)
        inserted.append(body)
        return " " * spaces + body

    def full_lines() -> list[str]:
        lines = []
        for _ in range(data.draw(st.integers(0, 2))):
            lines += [""] * data.draw(st.integers(0, 1))
            lines.append(comment(data.draw(st.integers(0, 16))))
        return lines

    out: list[str] = []
    for line in format_module(m, []).split("\n")[:-1]:
        out += full_lines()
        spots = breakable(line)
        cuts = sorted(data.draw(st.sets(st.sampled_from(spots), max_size=3))) if spots else []
        pieces = [line[a:b] for a, b in zip([0, *cuts], [*cuts, len(line)], strict=True)]
        for n, piece in enumerate(pieces):
            text = piece if n == 0 else " " * data.draw(st.integers(0, 12)) + piece.lstrip()
            if data.draw(st.booleans()):
                text += comment(data.draw(st.integers(1, 3)))
            out.append(text)
            if n < len(pieces) - 1:
                out += [c for c in full_lines() if c]
    out += full_lines()
    text = "\n".join(out) + "\n"
    result = formatted(text, m.path)
    assert comment_texts(result) == Counter(inserted)
    assert parse_source(m.path, result)[0] == m
    assert formatted(result, m.path) == result


@PROPERTY
@given(S.modules())
def test_generated_modules_round_trip(m: A.Module) -> None:
    check_round_trip(m)


@PROPERTY
@given(S.modules(), st.data())
def test_comments_survive_anywhere(m: A.Module, data: st.DataObject) -> None:
    check_comments_survive(m, data)


@pytest.mark.slow
@SLOW
@given(S.modules())
def test_generated_modules_round_trip_many(m: A.Module) -> None:
    check_round_trip(m)


@pytest.mark.slow
@SLOW
@given(S.modules(), st.data())
def test_comments_survive_anywhere_many(m: A.Module, data: st.DataObject) -> None:
    check_comments_survive(m, data)


# ------------------------------------------------------------------ the verb

MESSY = "segment  s :  x>1\n"
CLEAN = "segment s: x > 1\n"
BROKEN = "segment s x > 1\n"


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["fmt", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "messy.flow").write_text(MESSY, encoding="utf-8")
    (tmp_path / "sub" / "clean.flow").write_text(CLEAN, encoding="utf-8")
    (tmp_path / "notes.txt").write_text(MESSY, encoding="utf-8")
    return tmp_path


def test_check_lists_files_and_changes_nothing(folder: Path) -> None:
    code, out, _ = run("--check", str(folder))
    assert code == 1
    assert f"would reformat {folder / 'messy.flow'}" in out
    assert out.strip().endswith("1 file would be reformatted, 1 left unchanged")
    assert (folder / "messy.flow").read_text(encoding="utf-8") == MESSY


def test_check_passes_when_all_is_canonical(folder: Path) -> None:
    code, out, _ = run("--check", str(folder / "sub"))
    assert (code, out) == (0, "0 files would be reformatted, 1 left unchanged\n")


def test_rewrites_changed_files_only(folder: Path) -> None:
    clean, messy = folder / "sub" / "clean.flow", folder / "messy.flow"
    messy.chmod(0o640)
    before = clean.stat().st_mtime_ns
    code, out, _ = run(str(folder))
    assert (code, out) == (0, "1 file reformatted, 1 left unchanged\n")
    assert messy.read_text(encoding="utf-8") == CLEAN
    assert messy.stat().st_mode & 0o777 == 0o640
    assert clean.stat().st_mtime_ns == before
    assert (folder / "notes.txt").read_text(encoding="utf-8") == MESSY
    assert sorted(p.name for p in folder.rglob("*")) == [
        "clean.flow", "messy.flow", "notes.txt", "sub"]  # no temporary file left behind
    assert run("--check", str(folder))[0] == 0


def test_unparsable_file_is_untouched_and_others_are_formatted(folder: Path) -> None:
    broken = folder / "broken.flow"
    broken.write_bytes(BROKEN.encode())
    code, out, err = run(str(folder))
    assert code == 1
    assert broken.read_bytes() == BROKEN.encode()
    assert "broken.flow:1:" in err and "error[E01" in err
    assert (folder / "messy.flow").read_text(encoding="utf-8") == CLEAN
    assert "1 file reformatted, 1 left unchanged, 1 could not be formatted" in out


def test_stdin_prints_the_formatted_text() -> None:
    code, out, err = run("-", stdin=MESSY + "# kept\n")
    assert (code, out) == (0, CLEAN + "# kept\n")
    assert "1 file reformatted" in err


def test_stdin_that_does_not_parse() -> None:
    code, out, err = run("-", stdin=BROKEN)
    assert code == 1 and out == ""
    assert "<stdin>:1:" in err and "error[E01" in err


def test_stdin_check() -> None:
    assert run("--check", "-", stdin=CLEAN)[0] == 0
    code, out, _ = run("--check", "-", stdin=MESSY)
    assert code == 1 and "would reformat <stdin>" in out


@pytest.mark.parametrize("args", [(), ("no/such/path.flow",)])
def test_usage_errors(args: tuple[str, ...], tmp_path: Path) -> None:
    code, _, err = run(*args)
    assert code == 2 and err.startswith("engine: ")


def test_empty_folder_is_a_usage_error(tmp_path: Path) -> None:
    assert run(str(tmp_path))[0] == 2
