"""Pass: references to steps (``clicked intro``), to the goal, and to templates.

Codes: E0212 no email step by that name in the flow, E0213 a step referred to before it exists,
E0214 a step referred to outside any flow, E0215 ``goal`` without ``goal when``, E0216 unknown
template. Step references in a flow's settings (``exit when clicked intro``) may name any send of
the flow: settings hold throughout; in steps, the send must come earlier in the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from dsl import ast as A
from dsl import symbols as S
from dsl.checks.memo import per_folder
from dsl.checks.walk import Site, first_line, index, quote, tidy, word_span
from dsl.diagnostics import Diagnostic, did_you_mean, error

if TYPE_CHECKING:
    from dsl.check import Context


def _where(span: A.Span) -> str:
    return f"{span.file}:{span.line}"


def _did(did: A.Did, target: A.Name, site: Site, table: S.Symbols) -> Iterator[Diagnostic]:
    said = f"{did.verb} {target.name}"
    if site.flow is None:
        yield error("E0214", f"`{said}` refers to a step of a flow, but {site.owner} is not in a "
                    "flow", target.span, f"write `{did.verb} any email`, or move this condition "
                    "into the flow")
        return
    infos = S.flow_steps(site.flow)
    sends: dict[str, S.StepInfo] = {}
    for info in infos:
        if isinstance(info.step, A.Send):
            sends.setdefault(info.name, info)
    found = sends.get(target.name)
    if found is None:
        if any(i.name == target.name for i in infos):
            yield error("E0212", f"`{target.name}` is a split, not an email that can be "
                        f"{did.verb}", target.span, did_you_mean(target.name, sends)
                        or "refer to a send step of this flow")
            return
        notes = [f"`{target.name}` is a step of flow `{f.name}`; a flow can only refer to its "
                 "own steps" for f in table.flows.values() if f is not site.flow
                 and any(i.name == target.name for i in S.flow_steps(f))][:1]
        names = ", ".join(sends) or "none"
        yield error("E0212", f"flow `{site.flow.name}` has no email step named `{target.name}`",
                    target.span, did_you_mean(target.name, sends)
                    or f"the email steps of this flow are: {names}", *notes)
        return
    if not site.setting and not S.before(found.span, did.span):
        yield error("E0213", f"step `{target.name}` is referred to before it exists",
                    target.span, "move this check below the send, or refer to an earlier step",
                    f"`{target.name}` is defined at {_where(found.span)}")


def _goal(ref: A.GoalRef, site: Site) -> Iterator[Diagnostic]:
    if site.flow is None:
        yield error("E0215", f"`goal` means a flow's goal, but {site.owner} is not in a flow",
                    ref.span, "spell out the condition instead")
    elif isinstance(site.node, A.GoalWhen):
        yield error("E0215", "a goal cannot be defined in terms of itself", ref.span,
                    "spell out the condition")
    elif not site.flow.settings(A.GoalWhen):
        yield error("E0215", f"flow `{site.flow.name}` has no `goal when`, so `goal` means "
                    "nothing here", ref.span, "add a line `goal when <condition>` to the flow")


def _template_hint(name: str, known: frozenset[str]) -> str:
    folder, _, base = name.rpartition("/")
    same_base = sorted(k for k in known if k.rpartition("/")[2] == base)
    if same_base:
        return f"did you mean `{same_base[0]}`?"
    in_folder = [k for k in known if k.rpartition("/")[0] == folder]
    if in_folder:
        names = ", ".join(sorted(k.rpartition("/")[2] for k in in_folder)[:8])
        return (did_you_mean(name, in_folder)
                or f"the templates in {quote(folder + '/')} are: {names}")
    folders = {k.rpartition("/")[0] for k in known}
    if folder:
        close = did_you_mean(folder, folders)
        return f"there is no folder {quote(folder + '/')} in the templates folder" + (
            f"; {close}" if close else "")
    return did_you_mean(name, known) or "check the file name and its folder"


def _template(name: str, span: A.Span, known: frozenset[str]) -> Iterator[Diagnostic]:
    if name not in known:
        yield error("E0216", f"unknown template {quote(name)}", span, _template_hint(name, known))


def _quoted(span: A.Span, skip: int, text: str) -> A.Span:
    return word_span(span, skip, quote(text))


def _templates(node: object, known: frozenset[str]) -> Iterator[Diagnostic]:
    if isinstance(node, A.Send):
        skip = len("send ") + (len(node.name) + 1 if node.name else 0)
        if node.series:
            skip += len("next of (")
        for t in node.templates:
            yield from _template(t, _quoted(node.span, skip, t), known)
            skip += len(t) + 4
    elif isinstance(node, A.Notify):
        skip = len("notify owner ")
        if node.team is not None:
            skip = len(f"notify {'owner or ' if node.owner else ''}team {node.team} ")
        yield from _template(node.template, _quoted(node.span, skip, node.template), known)


def check_references(modules: Sequence[A.Module], ctx: Context) -> list[Diagnostic]:
    table = S.build(modules)
    out: list[Diagnostic] = []
    idx = per_folder(modules, "index", index)
    for leaf, site in idx.leaves:
        if isinstance(leaf, A.Did) and isinstance(leaf.target, A.Name):
            out.extend(_did(leaf, leaf.target, site, table))
        elif isinstance(leaf, A.GoalRef):
            out.extend(_goal(leaf, site))
    for m in modules:
        for item in m.items:
            if not isinstance(item, A.Flow):
                continue
            if not item.settings(A.GoalWhen):
                for on_goal in item.settings(A.OnGoal):
                    out.append(error("E0215", f"flow `{item.name}` has `on goal:` but no "
                                     "`goal when`, so these steps never run",
                                     word_span(first_line(on_goal.span), 0, "on goal"),
                                     "add a line `goal when <condition>` to the flow"))
    if ctx.templates is not None:
        for node, flow, _file in idx.of(A.Send, A.Notify):
            if flow is not None:
                out.extend(_templates(node, ctx.templates))
    return tidy(out)
