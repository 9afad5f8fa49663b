"""One diagnostic type for every finding, and its two renderings (text for people, JSON).

Codes are stable and documented in docs/language.md: ``E01xx`` syntax and input, ``E02xx`` names,
``E03xx`` types and values, ``E04xx`` structure, ``W...`` warnings.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dsl.ast import NO_SPAN, Span

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: str
    code: str
    message: str
    span: Span = NO_SPAN
    hint: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.span.file, self.span.line, self.span.column, self.code)

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "notes": list(self.notes),
        }


def error(code: str, message: str, span: Span, hint: str | None = None, *notes: str) -> Diagnostic:
    return Diagnostic(ERROR, code, message, span, hint, tuple(notes))


def warning(code: str, message: str, span: Span, hint: str | None = None,
            *notes: str) -> Diagnostic:
    return Diagnostic(WARNING, code, message, span, hint, tuple(notes))


def did_you_mean(word: str, known: Iterable[str]) -> str | None:
    """A hint naming the closest known word, if any is close enough to be a likely typo."""
    candidates = sorted(set(known))
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if not close:
        close = [c for c in candidates if c.lower() == word.lower()]
    return f"did you mean `{close[0]}`?" if close else None


def render(diag: Diagnostic, sources: dict[str, str]) -> str:
    """``path:line:col: error[E0201]: message``, the source line, a caret, then hint and notes."""
    s = diag.span
    where = f"{s.file}:{s.line}:{s.column}" if s.line else (s.file or "<input>")
    out = [f"{where}: {diag.severity}[{diag.code}]: {diag.message}"]
    text = sources.get(s.file)
    if text is not None and s.line:
        lines = text.splitlines()
        if 0 < s.line <= len(lines):
            line = lines[s.line - 1].replace("\t", " ")
            if len(line) > 200:  # keep a huge line readable around the spot
                start = max(0, s.column - 80)
                line = line[start : start + 160]
                col = s.column - start
            else:
                col = s.column
            width = 1
            if s.end_line == s.line and s.end_column > s.column:
                width = min(s.end_column - s.column, max(1, len(line) - col + 1))
            gutter = f"{s.line:>4} | "
            out.append(gutter + line)
            out.append(" " * (len(gutter) + max(col - 1, 0)) + "^" * max(width, 1))
    if diag.hint:
        out.append(f"  hint: {diag.hint}")
    out.extend(f"  note: {n}" for n in diag.notes)
    return "\n".join(out)


def render_all(diags: Sequence[Diagnostic], sources: dict[str, str]) -> str:
    return "\n".join(render(d, sources) for d in sorted(diags, key=Diagnostic.sort_key))


def summary(diags: Sequence[Diagnostic], files: int) -> str:
    errors = sum(d.is_error for d in diags)
    warnings = len(diags) - errors
    noun = "file" if files == 1 else "files"

    def plural(n: int, word: str) -> str:
        return f"{n} {word}" + ("" if n == 1 else "s")

    if not diags:
        return f"{files} {noun} checked, no problems."
    return f"{files} {noun} checked: {plural(errors, 'error')}, {plural(warnings, 'warning')}."
