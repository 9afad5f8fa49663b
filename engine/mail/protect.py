"""Jinja constructs hidden from HTML tools, and put back afterwards with a map of where they came
from.

CSS inlining and the HTML-to-text conversion run once per template, on its *source*, not on each
rendered message (PERFORMANCE.md: rendering must stay near the cost of a bare SMTP loop). Those
tools parse HTML, and Jinja code is not HTML: ``{% if %}`` between two table rows would be moved
out of the table by an HTML parser. So each construct is first replaced by a token the tools
carry through untouched:

- in text, an HTML comment ``<!--\\ue000 7\\ue001-->`` (comments stay where they are, even between
  table rows);
- inside a tag, an attribute value, a comment or a ``<style>``/``<title>`` element, the bare
  token ``\\ue000 7\\ue001`` (private-use characters, which no tool alters).

:func:`restore` puts the Jinja text back and returns a :class:`SourceMap`, so that an error at
line 40 of the prepared template is reported at the line of the original file it came from.
Structural tags (``extends``, ``block``, ``endblock``, ``include``, ``super()``) are kept as they
are: they are what assembles the layout and the template into one document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

OPEN, CLOSE = "\ue000", "\ue001"

CONSTRUCT = re.compile(
    r"""\{%[-+]?\s*raw\s*[-+]?%\}.*?\{%[-+]?\s*endraw\s*[-+]?%\}
    | \{\#.*?\#\}
    | \{\{(?:[^}"']|"[^"]*"|'[^']*'|\}(?!\}))*\}\}
    | \{%(?:[^%"']|"[^"]*"|'[^']*'|%(?!\}))*%\}""",
    re.S | re.X)
STRUCTURAL = re.compile(
    r"""\{%[-+]?\s*(?:extends|block|endblock|include)\b.*
    | \{\{[-+]?\s*super\(\)\s*[-+]?\}\}""", re.S | re.X)
TOKEN = re.compile(f"(?:<!--|&lt;!--)?{OPEN}(\\d+){CLOSE}(?:-->|--&gt;)?(?:=\"\")?")
BARE_TOKEN = re.compile(f"{OPEN}(\\d+){CLOSE}")
COMMENT_TOKEN = re.compile(f"(?:<!--|&lt;!--){OPEN}(\\d+){CLOSE}(?:-->|--&gt;)")
_JINJA_START = re.compile(r"\{(?=[{%#])")
_TAG_NAME = re.compile(r"<([A-Za-z][A-Za-z0-9-]*)")
_RAW_ELEMENTS = ("style", "script", "title", "textarea")


@dataclass(frozen=True, slots=True)
class Construct:
    text: str  # the Jinja source, e.g. "{{ lead.company }}"
    file: str  # where it was written ("" for constructs the engine adds)
    line: int


@dataclass
class Table:
    """Every construct of one preparation, numbered."""

    items: list[Construct] = field(default_factory=list)

    def add(self, text: str, file: str = "", line: int = 0) -> int:
        self.items.append(Construct(text, file, line))
        return len(self.items) - 1

    def __getitem__(self, index: int) -> Construct:
        return self.items[index]


def token(index: int, in_text: bool = False) -> str:
    bare = f"{OPEN}{index}{CLOSE}"
    return f"<!--{bare}-->" if in_text else bare


def tokens_in(text: str) -> list[int]:
    return [int(m.group(1)) for m in BARE_TOKEN.finditer(text)]


class _Scanner:
    """Where in the HTML a piece of source text ends: in text, inside a tag, in a comment, or in
    a raw-text element. Just enough HTML tokenising to choose the right kind of token."""

    def __init__(self) -> None:
        self.state = "text"
        self.tag = ""
        self.raw = ""

    @property
    def in_text(self) -> bool:
        return self.state == "text"

    def feed(self, s: str) -> None:
        i, n = 0, len(s)
        while i < n:
            if self.state == "text":
                j = s.find("<", i)
                if j < 0:
                    return
                if s.startswith("<!--", j):
                    self.state, i = "comment", j + 4
                    continue
                m = _TAG_NAME.match(s, j)
                if m or s.startswith(("</", "<!", "<?"), j):
                    self.tag = m.group(1).lower() if m else ""
                    self.state = "tag"
                i = j + 1
            elif self.state == "tag":
                j = min((k for k in (s.find(">", i), s.find('"', i), s.find("'", i)) if k >= 0),
                        default=-1)
                if j < 0:
                    return
                if s[j] == ">":
                    self.state = "raw" if self.tag in _RAW_ELEMENTS else "text"
                    self.raw = self.tag
                else:
                    self.state = "dq" if s[j] == '"' else "sq"
                i = j + 1
            elif self.state in ("dq", "sq"):
                j = s.find('"' if self.state == "dq" else "'", i)
                if j < 0:
                    return
                self.state, i = "tag", j + 1
            elif self.state == "comment":
                j = s.find("-->", i)
                if j < 0:
                    return
                self.state, i = "text", j + 3
            else:  # raw text: until its end tag
                j = s.lower().find(f"</{self.raw}", i)
                if j < 0:
                    return
                self.state, self.tag = "tag", ""
                i = j + 2


def _tag_end(source: str, pos: int) -> int:
    """Where the tag that ``pos`` is inside ends (the index of its ``>``), skipping quoted
    values and Jinja constructs; the end of the source if it never does."""
    while pos < len(source):
        ch = source[pos]
        if ch == ">":
            return pos
        if ch in "\"'":
            end = source.find(ch, pos + 1)
            pos = len(source) if end < 0 else end + 1
            continue
        m = CONSTRUCT.match(source, pos) if ch == "{" else None
        pos = m.end() if m else pos + 1
    return pos


def protect(source: str, file: str, table: Table) -> str:
    """``source`` with every non-structural construct replaced by a token; comments dropped.

    Code where an attribute name goes (``<td {% if wide %}colspan="2"{% endif %}>``) is taken
    with the rest of the tag as one token: HTML tools may reorder attributes, which would
    separate an ``{% if %}`` from its ``{% endif %}``."""
    out: list[str] = []
    scanner = _Scanner()
    pos, line = 0, 1
    for m in CONSTRUCT.finditer(source):
        if m.start() < pos:  # inside a run already taken
            continue
        literal = source[pos:m.start()]
        out.append(literal)
        scanner.feed(literal)
        line += literal.count("\n")
        text = m.group()
        if text.startswith("{#"):
            pass
        elif STRUCTURAL.fullmatch(text):
            out.append(text)
        elif scanner.state == "tag":
            end = _tag_end(source, m.end())
            text = source[m.start():end]
            out.append(" " + token(table.add(text, file, line)) + " ")
        else:
            out.append(token(table.add(text, file, line), scanner.in_text))
        line += text.count("\n")
        pos = m.start() + len(text)
    out.append(source[pos:])
    return "".join(out)


@dataclass(frozen=True)
class SourceMap:
    """Lines of a prepared template -> the file and line each construct came from."""

    spans: tuple[tuple[int, int, str, int], ...] = ()  # (first line, last line, file, line)

    def origin(self, line: int) -> tuple[str, int]:
        """Where the code at ``line`` was written: the construct starting closest above it
        (the first of several on one line; those the engine added have no origin)."""
        best: tuple[int, int, str, int] | None = None
        for span in self.spans:
            if span[2] and span[0] <= line <= span[1] and (best is None or span[0] > best[0]):
                best = span
        if best is None:
            return "", 0
        return best[2], best[3] + (line - best[0])


def escape_literals(text: str) -> str:
    """Literal text that would read as Jinja (``{{`` from an HTML entity) printed as text."""
    return _JINJA_START.sub('{{ "{" }}', text)


def restore(text: str, table: Table) -> tuple[str, SourceMap]:
    """Put every construct back, in any of the forms the tools may have left its token in."""
    out: list[str] = []
    spans: list[tuple[int, int, str, int]] = []
    pos, line = 0, 1
    for m in TOKEN.finditer(text):
        literal = text[pos:m.start()]
        out.append(literal)
        line += literal.count("\n")
        c = table[int(m.group(1))]
        out.append(c.text)
        end = line + c.text.count("\n")
        spans.append((line, end, c.file, c.line))
        line = end
        pos = m.end()
    out.append(text[pos:])
    return "".join(out), SourceMap(tuple(spans))


def uncomment_tokens(text: str) -> str:
    """Comment-form tokens as bare tokens (for tools, like html2text, that drop comments)."""
    return COMMENT_TOKEN.sub(lambda m: f"{OPEN}{m.group(1)}{CLOSE}", text)
