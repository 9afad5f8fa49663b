"""Text -> AST, with every failure turned into a Diagnostic a marketer can act on.

Nothing here raises for bad input: ``parse_source`` returns ``(module_or_None, diagnostics)``.
Raw Lark errors are translated at one boundary (``syntax.translate``).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from lark import Lark
from lark.exceptions import LarkError, UnexpectedInput, VisitError
from lark.indenter import Indenter

from dsl import ast as A
from dsl import lalr
from dsl.diagnostics import Diagnostic, error, warning
from dsl.syntax import translate
from dsl.transform import Builder, ToAst

MAX_BYTES = 1_000_000  # a flow file is hand-written; anything larger is a mistake
MAX_NESTING = 32  # parentheses, and separately indented blocks
MAX_RETRIES = 10  # errors reported per top-level item
GRAMMAR = Path(__file__).with_name("grammar.lark")


class FlowIndenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR"]
    CLOSE_PAREN_types = ["RPAR"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8


@functools.cache
def lark_parser() -> Lark:
    """Lark's parser for the grammar, building parse trees (the fallback path, error
    reporting, and tests that look at trees)."""
    return Lark(
        GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        postlex=FlowIndenter(),
        propagate_positions=True,
        maybe_placeholders=False,
        start="start",
        cache=True,  # the compiled tables are kept in the temp folder: 0.15 s less per start
    )


@functools.cache
def fast_tables() -> lalr.Tables | None:
    """The same grammar's tables for the fast driver (``dsl.lalr``); None when this Lark is not
    one the driver can mirror (then Lark parses everything, as it did before the driver)."""
    try:
        return lalr.Tables(lark_parser())
    except (AttributeError, KeyError, ValueError):
        return None


def decode(path: str, data: bytes) -> tuple[str | None, list[Diagnostic]]:
    """Bytes -> text, refusing what cannot be a flow file with a reason and a way out."""
    here = A.Span(path, 1, 1, 1, 1)
    if len(data) > MAX_BYTES:
        mb = len(data) / 1_000_000
        return None, [error("E0101", f"file is too large to be a flow file ({mb:.1f} MB)", here,
                            f"flow files are limited to {MAX_BYTES // 1_000_000} MB; "
                            "split it into several files in the same folder")]
    if b"\x00" in data:
        return None, [error("E0102", "this is a binary file, not a flow file", here,
                            "flow files are plain text saved as UTF-8")]
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        hint = "save the file as UTF-8"
        for enc, label in (("cp932", "Shift_JIS (CP932)"), ("euc_jp", "EUC-JP")):
            try:
                data.decode(enc)
            except UnicodeDecodeError:
                continue
            hint = (f"the file looks like {label}; save it as UTF-8 "
                    "(in most editors: Save As, encoding UTF-8)")
            break
        span = A.Span(path, line, col, line, col)
        return None, [error("E0103", "file is not valid UTF-8 text", span, hint)]
    return text, []


_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DEEP_INDENT = "\n" + " " * (4 * (MAX_NESTING + 1))


def _surely_fine(text: str) -> bool:
    """Whether the whole text is clear of everything ``_preflight`` looks for, found with a few
    scans of the text instead of a walk over its lines (the common case)."""
    return ("\t" not in text and _CONTROL.search(text) is None
            and text.count("(") <= MAX_NESTING and text.count("not") <= MAX_NESTING
            and _DEEP_INDENT not in text and not text.startswith(_DEEP_INDENT[1:]))


def _preflight(path: str, text: str) -> list[Diagnostic]:
    """Problems Lark would report badly or not survive: tabs, control characters, deep nesting."""
    if _surely_fine(text):
        return []
    diags: list[Diagnostic] = []
    depth = 0
    for lineno, line in enumerate(text.split("\n"), start=1):
        indent = len(line) - len(line.lstrip(" \t"))
        if "\t" in line[:indent] and line.strip() and not line.lstrip().startswith("#"):
            col = line.index("\t") + 1
            diags.append(error("E0104", "a tab is used for indentation", A.Span(
                path, lineno, col, lineno, col + 1), "indent with spaces only (4 per level)"))
        bad = _CONTROL.search(line)
        if bad:
            col = bad.start() + 1
            diags.append(error("E0105", f"invisible control character U+{ord(bad.group()):04X}",
                               A.Span(path, lineno, col, lineno, col + 1),
                               "delete it; it was probably pasted by accident"))
        code_part = _code(line)
        nots = re.findall(r"\bnot\b", code_part)
        if len(nots) > MAX_NESTING:
            diags.append(error("E0106", f"more than {MAX_NESTING} `not` in one condition",
                               A.Span(path, lineno, 1, lineno, 2),
                               "simplify it: two `not` cancel out"))
        opened = code_part.count("(")
        if depth + opened <= MAX_NESTING:  # the common case: no need to find a column
            depth = max(0, depth + opened - code_part.count(")"))
            opened = -1
        in_string = False
        for col, ch in enumerate(line if opened >= 0 else "", start=1):
            if ch == '"' and (col == 1 or line[col - 2] != "\\"):
                in_string = not in_string
            elif ch == "#" and not in_string:
                break
            elif not in_string and ch == "(":
                depth += 1
                if depth == MAX_NESTING + 1:
                    diags.append(error("E0106", f"parentheses nested more than {MAX_NESTING} deep",
                                       A.Span(path, lineno, col, lineno, col + 1),
                                       "split the condition into named segments"))
            elif not in_string and ch == ")":
                depth = max(depth - 1, 0)
        if indent // 4 > MAX_NESTING and line.strip():
            diags.append(error("E0107", f"blocks nested more than {MAX_NESTING} deep",
                               A.Span(path, lineno, 1, lineno, indent + 1),
                               "move part of the flow into a separate flow"))
            break
    return diags


def parse_source(path: str, text: str) -> tuple[A.Module | None, list[Diagnostic]]:
    """Parse one file's text. A module is returned only when there was no syntax error.

    Each top-level item (a line starting in column 1, with the indented lines under it) is parsed
    on its own, so one broken definition does not hide the errors of the next; within an item the
    first error is reported, as later ones are usually its echo.
    """
    diags = _preflight(path, text)
    if diags:
        return None, diags
    items: list[A.Item] = []
    errors: list[Diagnostic] = []
    builder = Builder(path)
    for first_line, chunk in _chunks(text):
        found = _parse_chunk(builder, path, first_line, chunk, errors)
        if found is not None:
            items.extend(found)
    if errors:
        return None, _dedupe(errors)
    lines = text.count("\n") + 1
    if not items:
        return A.Module(path, (), span=A.Span(path, 1, 1, lines, 1)), [warning(
            "W0100", "this file defines nothing" if text.strip() else "this file is empty",
            A.Span(path, 1, 1, 1, 1), "write a flow or shared definitions, or delete the file")]
    return A.Module(path, tuple(items), span=A.Span(path, 1, 1, lines, 1)), []


def _parse_chunk(builder: Builder, path: str, first_line: int, chunk: str,
                 errors: list[Diagnostic]) -> tuple[A.Item, ...] | None:
    """Parse one top-level item; after an error, blank the offending line (and the block under
    it) and try again, so the other mistakes in the same flow are reported too.

    The fast driver (``dsl.lalr``) goes first; whatever it gives up on, Lark parses, and Lark's
    errors are what the diagnostics are made from."""
    lines = ("\n" * (first_line - 1) + chunk).split("\n")
    failed, last = False, 0
    for _ in range(MAX_RETRIES):
        padded = "\n".join(lines) + "\n"
        tables = fast_tables()
        if tables is not None:
            try:
                items = lalr.parse(tables, padded, builder)
            except lalr.GiveUp:
                pass
            else:
                return None if failed else items  # type: ignore[no-any-return]
        parser = lark_parser()  # outside the try: a broken grammar is our bug, not the flow's
        try:
            tree = parser.parse(padded)
        except UnexpectedInput as exc:
            diag = translate(exc, path, padded)
        except LarkError as exc:  # indentation errors from the Indenter, and the like
            diag = _other_error(exc, path, padded)
        else:
            if failed:
                return None
            try:
                return ToAst(builder).transform(tree)  # type: ignore[no-any-return]
            except RecursionError:
                errors.append(error("E0106", "this item is nested too deeply to read",
                                    A.Span(path, first_line, 1, first_line, 2),
                                    "split the condition into named segments"))
                return None
            except VisitError as exc:  # pragma: no cover - an engine bug, not the flow's
                raise RuntimeError(f"internal error building the syntax tree: {exc.orig_exc!r}"
                                   ) from exc
        line = diag.span.line
        if failed and line <= last:
            return None  # an echo of the line just blanked, not a mistake of its own
        errors.append(diag)
        failed, last = True, line
        if not (first_line < line <= len(lines)) or not _blank(lines, line - 1):
            return None
    return None


def _blank(lines: list[str], i: int) -> bool:
    """Blank line ``i`` and the lines indented under it; False when nothing was left to blank."""
    if not lines[i].strip():
        return False
    indent = len(lines[i]) - len(lines[i].lstrip())
    lines[i] = ""
    j = i + 1
    while j < len(lines) and (not lines[j].strip()
                              or len(lines[j]) - len(lines[j].lstrip()) > indent):
        lines[j] = ""
        j += 1
    return True


def _chunks(text: str) -> list[tuple[int, str]]:
    """Split at lines that start a top-level item: not indented, not blank, not a comment,
    and not inside parentheses left open by an earlier line."""
    chunks: list[tuple[int, list[str]]] = []
    depth = 0
    for lineno, line in enumerate(text.split("\n"), start=1):
        starts_item = (depth == 0 and line[:1] not in ("", " ", "\t", "#", "\r")
                       and line.strip() != "")
        if starts_item or not chunks:
            chunks.append((lineno, []))
        chunks[-1][1].append(line)
        depth = max(0, depth + _paren_delta(line))
    return [(n, "\n".join(body)) for n, body in chunks]


_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def _code(line: str) -> str:
    """The line without its texts and its comment: what parentheses and keywords count in."""
    if '"' in line:
        line = _STRING.sub('""', line)
    return line.split("#", 1)[0]


def _paren_delta(line: str) -> int:
    if "(" not in line and ")" not in line:
        return 0
    code = _code(line)
    return code.count("(") - code.count(")")


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[int, int]] = set()
    out = []
    for d in diags:
        key = (d.span.line, d.span.column)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _bad_dedent_line(text: str) -> int:
    """The first line that steps back to an indentation no enclosing block has."""
    stack = [0]
    depth = 0
    for lineno, line in enumerate(text.split("\n"), start=1):
        if line.strip() and not line.lstrip().startswith("#") and depth == 0:
            indent = len(line) - len(line.lstrip())
            if indent > stack[-1]:
                stack.append(indent)
            else:
                while indent < stack[-1]:
                    stack.pop()
                if indent != stack[-1]:
                    return lineno
        depth = max(0, depth + _paren_delta(line))
    return 1


def _other_error(exc: Exception, path: str, text: str) -> Diagnostic:
    msg = str(exc)
    if "dedent" in msg.lower():
        line = _bad_dedent_line(text)
        body = text.split("\n")[line - 1]
        col = len(body) - len(body.lstrip()) + 1
        return error("E0108", "this line's indentation does not match any enclosing block",
                     A.Span(path, line, col, line, col + 1),
                     "indent it exactly as far as the lines of the block it belongs to")
    m = re.search(r"line (\d+)", msg)
    line = int(m.group(1)) if m else 1
    return error("E0100", "the file could not be read as a flow file",
                 A.Span(path, line, 1, line, 2))
