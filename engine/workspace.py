"""Finding, reading and checking the flow files that a command is pointed at.

Paths behave the same for every verb: a file, a folder (searched recursively for ``*.flow``), or
``-`` for standard input. Definitions are shared by all files of a folder, so naming one file
still loads its folder's other files as context; only the named files are reported on.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dsl import ast as A
from dsl.check import Context, check_modules
from dsl.diagnostics import Diagnostic, error
from dsl.parser import decode, parse_source

SUFFIX = ".flow"


class UsageError(Exception):
    """A path that does not exist or holds no flow files: exit code 2, not a flow problem."""


@dataclass
class Workspace:
    sources: dict[str, str] = field(default_factory=dict)
    modules: list[A.Module] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)

    @property
    def reported(self) -> list[Diagnostic]:
        wanted = set(self.targets)
        return [d for d in self.diagnostics if d.span.file in wanted or not d.span.file]

    def module(self, path: str) -> A.Module | None:
        return next((m for m in self.modules if m.path == path), None)


def display(path: Path) -> str:
    """The path as the user would write it: relative to the working folder when inside it."""
    absolute = Path(os.path.abspath(path))  # no symlink resolution: one stat less per file
    try:
        return str(absolute.relative_to(os.getcwd()))
    except ValueError:
        return str(path)


def flow_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob(f"*{SUFFIX}") if p.is_file())


def resolve_targets(paths: list[str]) -> tuple[list[Path], list[Path], bool]:
    """-> (files to report on, folders whose files give context, whether stdin is a target)."""
    targets: list[Path] = []
    contexts: list[Path] = []
    stdin = False
    for raw in paths:
        if raw == "-":
            stdin = True
            continue
        p = Path(raw)
        if p.is_dir():
            found = flow_files(p)
            if not found:
                raise UsageError(f"{raw}: no {SUFFIX} files in this folder")
            targets.extend(found)
            contexts.append(p)
        elif p.is_file():
            targets.append(p)
            contexts.append(p.parent)
        else:
            raise UsageError(f"{raw}: no such file or folder")
    return targets, contexts, stdin


Parsed = tuple[str, str | None, A.Module | None, list[Diagnostic]]


def parse_file(name: str, data: bytes) -> Parsed:
    text, diags = decode(name, data)
    if text is None:
        return name, None, None, diags
    module, more = parse_source(name, text)
    return name, text, module, diags + more


def _parse_path(item: tuple[str, str]) -> Parsed:
    name, path = item
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return name, None, None, [error("E0109", f"cannot read the file: {exc.strerror}",
                                        A.Span(name, 0, 0, 0, 0))]
    return parse_file(name, data)


def parse_paths(items: list[tuple[str, str]]) -> list[Parsed]:
    """Parse files one after the other. (Worker processes were tried: sending the trees back
    to the parent cost more than parsing on a second core saved.)"""
    return [_parse_path(i) for i in items]


def add_parsed(ws: Workspace, parsed: Parsed) -> None:
    name, text, module, diags = parsed
    ws.diagnostics.extend(diags)
    if text is not None:
        ws.sources[name] = text
    if module is not None:
        ws.modules.append(module)


def read_one(ws: Workspace, name: str, data: bytes) -> None:
    add_parsed(ws, parse_file(name, data))


def template_names(root: Path) -> frozenset[str]:
    """Names as flows write them: ``dormant/intro.html`` for ``templates/ja/dormant/intro.html``
    (a leading two-letter language folder is dropped) or ``templates/dormant/intro.html``."""
    names = set()
    for p in root.rglob("*"):
        if p.is_file():
            parts = p.relative_to(root).parts
            if len(parts) > 1 and len(parts[0]) == 2 and parts[0].isalpha():
                parts = parts[1:]
            names.add("/".join(parts))
    return frozenset(names)


def find_templates(roots: list[Path], explicit: str | None) -> Path | None:
    if explicit:
        p = Path(explicit)
        if not p.is_dir():
            raise UsageError(f"{explicit}: templates folder not found")
        return p
    for root in [*roots, Path.cwd()]:
        for candidate in (root / "templates", root.parent / "templates"):
            if candidate.is_dir():
                return candidate
    return None


def load(paths: list[str], templates: str | None = None, check: bool = True,
         siblings: bool = True) -> Workspace:
    """Read, parse and (with ``check``) check. ``siblings=False`` reads only the named files and
    folders, not the other files beside a named file (golden tests want that isolation)."""
    targets, contexts, stdin = resolve_targets(paths)
    ws = Workspace(roots=contexts)
    seen: set[Path] = set()
    for t in targets:
        seen.add(Path(os.path.abspath(t)))
        ws.targets.append(display(t))
    if stdin:
        ws.targets.append("<stdin>")
        read_one(ws, "<stdin>", sys.stdin.buffer.read())
    context_files = [t for t in targets]
    for folder in contexts if siblings else []:
        for p in flow_files(folder):
            if Path(os.path.abspath(p)) not in seen:
                seen.add(Path(os.path.abspath(p)))
                context_files.append(p)
    for parsed in parse_paths([(display(p), str(p)) for p in context_files]):
        add_parsed(ws, parsed)
    if check:
        found = find_templates(contexts, templates)
        names = template_names(found) if found else None
        ws.diagnostics.extend(check_modules(ws.modules, Context(templates=names)))
    return ws
