"""What the syntax tree drops and the formatter must give back: comments and blank lines.

The grammar folds comments into newlines, so the AST never sees them; the formatter re-reads them
from the source text (``scan``) and hangs each one on a printed statement (``attach``):

* a *trailing* comment stays at the end of its statement's line. A statement that the author
  spread over several lines inside parentheses is printed on one line, so its comments move: the
  last trailing one ends the printed line, the others (and full-line comments written inside
  the parentheses) are *hoisted* to full lines just above the statement, in source order.
* a *full-line* comment belongs to the statement that follows it, at that statement's
  indentation, unless it sits at the end of a block: then its column decides which of the
  blocks being closed it ends (the deepest one it is not left of), and it is printed after that
  block's last statement. At the end of the file such comments end the file.

Blank lines are kept where the author put one (a run collapses to one), except that the first
line of a block never gets one and some statements force it (``Stmt.blank``). Every rule maps a
printed file onto itself, so formatting is idempotent.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Comment:
    """``text`` runs from ``#`` to the end of the line, trailing whitespace removed."""

    line: int
    column: int
    text: str
    trailing: bool  # code precedes it on its line


@dataclass(frozen=True, slots=True)
class Trivia:
    """Comments, blank lines, and where each logical line (a statement whose parentheses may
    run over several physical lines) ends: first line -> last line."""

    comments: tuple[Comment, ...]
    blank: frozenset[int]
    ends: dict[int, int]


def trivia(text: str) -> Trivia:
    """One pass over the text. Strings never span lines and may hold ``\\"``; a ``#`` outside
    them starts a comment; parentheses (outside strings and comments) continue a line."""
    comments: list[Comment] = []
    blank: set[int] = set()
    ends: dict[int, int] = {}
    depth, start = 0, 0
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            blank.add(lineno)
            continue
        at_start, code, in_string, escaped = depth, False, False, False
        for col, ch in enumerate(line, start=1):
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
                continue
            if ch == "#":
                comments.append(Comment(lineno, col, line[col - 1 :].rstrip(), code))
                break
            if ch == '"':
                in_string = True
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth = max(depth - 1, 0)
            code = code or not ch.isspace()
        if code:
            if at_start == 0:
                start = lineno
            ends[start] = lineno
        elif at_start > 0 and start:
            ends[start] = max(ends[start], lineno)
    return Trivia(tuple(comments), frozenset(blank), ends)


def scan(text: str) -> list[Comment]:
    """Every comment of ``text``, in order."""
    return list(trivia(text).comments)


AUTHOR, FORCE, NEVER = "author", "force", "never"


@dataclass(eq=False)
class Stmt:
    """One printed line (without indentation) and the block under it, if it is a header.

    ``line``/``column`` say where it came from (0: unknown, e.g. a generated tree; an ``else:``
    has no node of its own and gets its line from the text). ``blank`` is the rule for a blank
    line before it (and before the comments above it).
    """

    text: str
    line: int = 0
    column: int = 0
    children: list[Stmt] = field(default_factory=list)
    blank: str = AUTHOR
    leading: list[Comment] = field(default_factory=list)
    hoisted: list[Comment] = field(default_factory=list)
    trailing: list[Comment] = field(default_factory=list)
    end: list[Comment] = field(default_factory=list)  # after the last child
    last: int = 0  # its last source line (without the text: an estimate from the tree)


@dataclass(eq=False)
class _Placed:
    stmt: Stmt
    chain: list[Stmt]  # ancestors-or-self, outermost first: chain[d] sits at depth d


def _walk(block: list[Stmt], chain: list[Stmt]) -> Iterator[_Placed]:
    """Pre-order, which is source order."""
    for s in block:
        yield _Placed(s, [*chain, s])
        yield from _walk(s.children, [*chain, s])


def attach(root: Stmt, comments: list[Comment], info: Trivia | None) -> Callable[[int], bool]:
    """Hang every comment on a statement of ``root``'s tree (see the module docstring); return
    the test "was the line before this one blank?" for ``render``."""
    placed = list(_walk(root.children, []))
    code_starts = sorted(info.ends) if info else []
    comment_lines = {c.line for c in comments if not c.trailing}
    for p in placed:
        s = p.stmt
        if not s.line and s.children and s.children[0].line:
            first = s.children[0].line
            if info:
                i = bisect.bisect_left(code_starts, first) - 1
                s.line = code_starts[i] if i >= 0 else 0
            else:
                s.line = next((n for n in range(first - 1, 0, -1) if n not in comment_lines), 0)
    known = [p for p in placed if p.stmt.line]
    known.sort(key=lambda p: p.stmt.line)
    for p in known:
        s = p.stmt
        s.last = info.ends.get(s.line, s.line) if info else max(s.line, s.last)
    starts = [p.stmt.line for p in known]
    for c in sorted(comments, key=lambda c: (c.line, c.column)):
        i = bisect.bisect_right(starts, c.line) - 1
        before = known[i] if i >= 0 else None
        if before and (c.trailing or c.line <= before.stmt.last):
            (before.stmt.trailing if c.trailing else before.stmt.hoisted).append(c)
            continue
        after = known[i + 1] if i + 1 < len(known) else None
        _place_between(c, before, after, root)
    for p in known:
        s = p.stmt
        if len(s.trailing) > 1:
            s.hoisted = sorted(s.hoisted + s.trailing[:-1], key=lambda c: (c.line, c.column))
            s.trailing = s.trailing[-1:]
    if info:
        return lambda line: line - 1 in info.blank
    covered = comment_lines | {n for p in known for n in range(p.stmt.line, p.stmt.last + 1)}
    return lambda line: line > 1 and line - 1 not in covered


def _place_between(c: Comment, before: _Placed | None, after: _Placed | None, root: Stmt) -> None:
    """A full-line comment between two statements: lead the next one, or end a block."""
    if before is None:
        (after.stmt.leading if after else root.end).append(c)
        return
    low = len(after.chain) - 1 if after else 0
    high = len(before.chain) - 1
    if after and low > high:  # the next statement is the first of a block just opened
        after.stmt.leading.append(c)
        return
    depth = next((d for d in range(high, low, -1) if before.chain[d].column <= c.column), low)
    if after and depth == low:
        after.stmt.leading.append(c)
    else:
        owner = before.chain[depth - 1] if depth > 0 else root
        owner.end.append(c)


def render(root: Stmt, blank_before: Callable[[int], bool], indent: str = "    ") -> str:
    """The file's text: ``root.children`` at the left margin, comments where ``attach`` put
    them, a newline at the end (nothing at all for an empty file)."""
    out: list[str] = []

    def emit(depth: int, text: str, blank: bool) -> None:
        if blank and out:
            out.append("")
        out.append(indent * depth + text)

    def block(stmts: list[Stmt], depth: int) -> None:
        for i, s in enumerate(stmts):
            group = [(c.text, blank_before(c.line)) for c in s.leading]
            own = bool(s.line) and blank_before(s.line)
            if s.hoisted:
                group.append((s.hoisted[0].text, own))
                group.extend((c.text, False) for c in s.hoisted[1:])
                own = False
            tail = "".join(f"  {c.text}" for c in s.trailing)
            group.append((s.text + tail, own))
            first = i > 0 and (s.blank == FORCE or (s.blank == AUTHOR and group[0][1]))
            group[0] = (group[0][0], first)
            for text, blank in group:
                emit(depth, text, blank)
            block(s.children, depth + 1)
            for c in s.end:
                emit(depth + 1, c.text, blank_before(c.line))

    block(root.children, 0)
    for c in root.end:
        emit(0, c.text, blank_before(c.line))
    return "\n".join(out) + "\n" if out else ""
