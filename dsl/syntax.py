"""Lark's parse errors, translated into words a marketer knows.

The one boundary where raw ``UnexpectedInput`` becomes a ``Diagnostic``. Two sources of meaning:
a table of labelled malformed snippets (``EXAMPLES``, matched by the parser state they fail
in) for mistakes common enough to deserve a tailored message, and a generic
"found X, expected Y" built from the expected terminals, each named in plain words.
"""

from __future__ import annotations

import functools
import unicodedata

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from dsl import ast as A
from dsl.diagnostics import Diagnostic, did_you_mean, error

WORDS = {
    "NAME": "a name",
    "STRING": 'a text in double quotes ("...")',
    "INT": "a number",
    "DECIMAL": "a number",
    "SIGNED_NUMBER": "points such as +5",
    "PERCENT": "a percentage such as 50%",
    "TIME": "a time such as 09:30",
    "CMP": "a comparison (=, !=, <, <=, >, >=)",
    "SHIFT": "+ or -",
    "_NL": "the end of the line",
    "_INDENT": "an indented block",
    "_DEDENT": "the end of the block",
    "$END": "the end of the file",
}

# Label -> (code, message, hint). Each label has malformed snippets in EXAMPLES that must keep
# mapping to it (tests/dsl/test_syntax_errors.py checks, so grammar changes cannot break it).
LABELS: dict[str, tuple[str, str, str]] = {
    "header-colon": ("E0110", "a block header must end with `:`",
                     "add `:` at the end of the line, then indent the lines that belong to it"),
    "send-template": ("E0120", "`send` needs a template in double quotes",
                      'write it like: send intro "dormant/intro.html"'),
    "wait-unit": ("E0121", "a duration needs a unit",
                  "write it like: wait 7 days (minutes, hours, days, weeks, months or years)"),
    "empty-condition": ("E0122", "a condition is missing here",
                        'write one, for example: stage is "customer"'),
    "is-compare": ("E0123", "`is` cannot be followed by a comparison sign",
                   "write either `employees > 100` or `stage is \"lead\"`, not both"),
    "single-equals-list": ("E0124", "a list needs `in`, not `=`",
                           'write it like: industry in ("manufacturing", "trading")'),
}

EXAMPLES: dict[str, list[str]] = {
    "header-colon": [
        "flow f\n    send a \"x\"\n",
        "tier size from employees\n    smb 2 to 99\n",
        "score s\n    +5 per email click\n",
        "flow f:\n    if stage is \"lead\"\n        exit\n",
        "policy\n    require consent\n",
    ],
    "send-template": [
        "flow f:\n    send intro\n",
        "flow f:\n    send intro from owner\n",
    ],
    "wait-unit": [
        "flow f:\n    wait 7\n",
    ],
    "empty-condition": [
        "flow f:\n    enter when\n",
        "segment s:\n",
        "flow f:\n    exit when\n",
        "flow f:\n    goal when\n",
    ],
    "is-compare": [
        "segment s: employees is > 5\n",
        "segment s: employees is >= 5\n",
    ],
    "single-equals-list": [
        "segment s: industry = (\"a\", \"b\")\n",
    ],
}


Signature = tuple[frozenset[str], str]


def _signature(exc: UnexpectedInput) -> Signature | None:
    """What identifies a parser state for our purpose: the terminals it would have accepted, and
    the kind of token it got. (Lark's own ``match_examples`` also compares the stack depth, so a
    mistake inside an ``if`` would not match the same mistake at the top of a flow.)"""
    if isinstance(exc, UnexpectedToken):
        return frozenset(exc.expected), exc.token.type
    return None


@functools.cache
def example_signatures() -> dict[Signature, str]:
    from dsl.parser import lark_parser

    table: dict[Signature, str] = {}
    for label, snippets in EXAMPLES.items():
        for snippet in snippets:
            try:
                lark_parser().parse(snippet)
            except UnexpectedInput as exc:
                sig = _signature(exc)
                if sig is not None:
                    table.setdefault(sig, label)
    return table


def match_example(exc: UnexpectedInput) -> str | None:
    sig = _signature(exc)
    return example_signatures().get(sig) if sig is not None else None


@functools.cache
def _keywords() -> dict[str, str]:
    """Terminal name -> the keyword's text, for every keyword of the grammar."""
    from dsl.parser import lark_parser

    out = {}
    for term in lark_parser().terminals:
        if term.pattern.type == "str" and term.name not in WORDS:
            out[term.name] = term.pattern.value
    return out


def describe_expected(name: str) -> str:
    if name in WORDS:
        return WORDS[name]
    kw = _keywords().get(name)
    return f"`{kw}`" if kw is not None else "something else"


def describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    if tok.type in ("_NL", "_DEDENT"):
        return "the end of the line"
    if tok.type == "_INDENT":
        return "an indented line"
    if tok.type == "NAME":
        return f"word `{tok}`"
    if tok.type == "STRING":
        return f"text {tok}"
    if tok.type in ("INT", "DECIMAL", "SIGNED_NUMBER"):
        return f"number {tok}"
    return f"`{tok}`"


def _expected_list(expected: set[str]) -> str:
    words = sorted({describe_expected(e) for e in expected if not e.startswith("__")} - {
        "something else"})
    if not words:
        return "something else"
    if len(words) > 8:
        return "one of " + ", ".join(words[:8]) + ", ..."
    return ", ".join(words[:-1]) + (" or " if len(words) > 1 else "") + words[-1]


def _span_for(exc: UnexpectedInput, path: str, text: str) -> A.Span:
    tok = getattr(exc, "token", None)
    line = getattr(exc, "line", None) or 1
    col = getattr(exc, "column", None) or 1
    if isinstance(tok, Token) and tok.type == "_INDENT":
        # point at the first character of the indented line, not at the newline before it
        lines = text.split("\n")
        line = min(line + 1, len(lines))
        body = lines[line - 1]
        col = len(body) - len(body.lstrip()) + 1
        return A.Span(path, line, col, line, col + 1)
    if isinstance(tok, Token) and tok.type not in ("$END",) and tok.end_column:
        end = tok.end_column if tok.end_line == tok.line else col + 1
        if tok.type in ("_NL", "_DEDENT"):
            end = col + 1
        return A.Span(path, line, col, line, max(end, col + 1))
    if tok is not None and tok.type == "$END":
        lines = text.rstrip("\n").split("\n")
        line = len(lines)
        col = len(lines[-1]) + 1
    return A.Span(path, line, col, line, col + 1)


def translate(exc: UnexpectedInput, path: str, text: str) -> Diagnostic:
    span = _span_for(exc, path, text)
    if isinstance(exc, UnexpectedCharacters):
        return _bad_character(exc, span, text)
    label = match_example(exc)
    if label is not None:
        code, message, hint = LABELS[label]
        return error(code, message, span, hint)
    if isinstance(exc, UnexpectedToken):
        missing = _missing_block(exc, path, text)
        return missing or _unexpected_token(exc, span)
    if isinstance(exc, UnexpectedEOF):
        wanted = _expected_list({str(t) for t in exc.expected})
        return error("E0111", f"the file ends too early; expected {wanted}", span)
    return error("E0100", "this line cannot be read", span)


def _missing_block(exc: UnexpectedToken, path: str, text: str) -> Diagnostic | None:
    """A header ending in `:` whose next line is not indented under it."""
    tok = exc.token
    if tok.type in ("_INDENT", "COLON") or not tok.line:
        return None
    lines = text.split("\n")
    line = tok.line if tok.type not in ("_NL", "_DEDENT", "$END") else tok.line + 1
    prev = line - 1
    while prev >= 1 and (not lines[prev - 1].strip() or lines[prev - 1].lstrip().startswith("#")):
        prev -= 1
    if prev < 1:
        return None
    header = lines[prev - 1].split("#", 1)[0].rstrip()
    if not header.endswith(":") or '"' in header.rsplit(":", 1)[-1]:
        return None
    body = lines[line - 1] if line <= len(lines) else ""
    indent = len(body) - len(body.lstrip())
    if body.strip() and indent > len(header) - len(header.lstrip()):
        return None
    col = len(header) + 1
    return error("E0113", "expected an indented block after `:`",
                 A.Span(path, prev, col - 1, prev, col),
                 "indent the lines that belong here by 4 more spaces")


def _unexpected_token(exc: UnexpectedToken, span: A.Span) -> Diagnostic:
    tok = exc.token
    expected = set(exc.expected)
    found = describe_token(tok)
    if tok.type == "NAME" and tok == "move" and "_MOVE" in expected:
        return error("E0125", "`move` is followed by the label of the old step, in double quotes",
                     span, 'write it like: move "intro+1" to checkin')
    if tok.type == "_INDENT":
        return error("E0112", "this line is indented but nothing above it opens a block", span,
                     "line it up with the line above, or end the line above with `:`")
    if "_INDENT" in expected and len(expected) == 1:
        return error("E0113", "expected an indented block after `:`", span,
                     "indent the lines that belong here by 4 more spaces")
    if tok.type in ("_NL", "_DEDENT", "$END") and "COLON" in expected:
        code, message, colon_hint = LABELS["header-colon"]
        return error(code, message, span, colon_hint)
    hint: str | None = None
    if tok.type == "NAME":
        keywords = [kw for name, kw in _keywords().items() if name in expected and kw.isalpha()]
        hint = did_you_mean(str(tok), keywords)
    if hint is None and tok.type in ("_NL", "$END", "_DEDENT") and "COLON" in expected:
        hint = "add `:` at the end of the line"
    if hint is None and tok.type == "STRING" and "NAME" in expected and "STRING" not in expected:
        hint = "names are written without quotes"
    if hint is None and tok.type == "NAME" and "STRING" in expected and "NAME" not in expected:
        hint = f'texts are written in double quotes: "{tok}"'
    if tok.type in ("_NL", "_DEDENT"):
        message = f"the line ends too early; expected {_expected_list(expected)}"
    else:
        message = f"unexpected {found}; expected {_expected_list(expected)}"
    return error("E0114", message, span, hint)


def _bad_character(exc: UnexpectedCharacters, span: A.Span, text: str) -> Diagnostic:
    ch = exc.char
    if ch == "'":
        return error("E0115", "texts are written in double quotes", span,
                     "replace the single quotes ' ' with double quotes \" \"")
    if ch == '"':
        return error("E0116", "this text has no closing double quote", span,
                     'end it with " on the same line')
    half = unicodedata.normalize("NFKC", ch)
    if half != ch and half.isascii():
        return error("E0117", f"full-width character `{ch}` in the flow's syntax", span,
                     f"use the half-width `{half}` (full-width is fine inside quoted text)")
    if ch in "“”„":
        return error("E0115", "texts are written in straight double quotes", span,
                     'replace the curly quotes with " (your editor may have converted them)')
    name = unicodedata.name(ch, f"U+{ord(ch):04X}")
    return error("E0118", f"unexpected character `{ch}` ({name.lower()})", span,
                 "remove it, or put it inside double quotes if it is part of a text")
