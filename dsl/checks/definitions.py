"""Pass: names defined twice (in the folder, or as steps of one flow), and clashing blocks.

Codes: E0205 a name defined twice, E0206 a second ``policy:`` block, E0207 a core attribute
redeclared with another type, E0208 two steps of a flow with one name, E0223 an event kind
declared twice or already built in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dsl import ast as A
from dsl import schema, symbols
from dsl.checks.memo import per_folder
from dsl.checks.walk import quote, tidy, word_span
from dsl.diagnostics import Diagnostic, error

if TYPE_CHECKING:
    from dsl.check import Context

KEYWORD = {symbols.TIER: "tier ", symbols.SCORE: "score ", symbols.SEGMENT: "segment ",
           symbols.PRIORITY: "priority ", symbols.TEAM: "team ", symbols.FLOW: "flow ",
           symbols.ATTRIBUTE: ""}


def where(span: A.Span) -> str:
    return f"{span.file}:{span.line}"


def name_span(d: symbols.Definition) -> A.Span:
    return word_span(d.span, len(KEYWORD.get(d.kind, "")), d.name)


def _duplicate(dup: symbols.Duplicate) -> Diagnostic:
    later, first = dup.later, dup.first
    span = name_span(later)
    if first.span == A.NO_SPAN:
        return error("E0205", f"{later.kind} `{later.name}` has the name of an attribute every "
                     "lead has", span, f"choose another name, such as `{later.name}_{later.kind}`")
    if later.kind == first.kind:
        return error("E0205", f"{later.kind} `{later.name}` is defined twice", span,
                     "remove one of them, or rename it", f"first defined at {where(first.span)}")
    return error("E0205", f"{later.kind} `{later.name}` has the same name as {first.kind} "
                 f"`{first.name}`", span, "rename one of them: a name means one thing in a folder",
                 f"the {first.kind} is defined at {where(first.span)}")


def _step_span(info: symbols.StepInfo) -> A.Span:
    step = info.step
    if isinstance(step, A.Split):
        return word_span(step.span, len("split "), step.name)
    if step.name is not None:
        return word_span(step.span, len("send "), step.name)
    return word_span(step.span, 0, "send")


def _steps(flow: A.Flow) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: dict[str, symbols.StepInfo] = {}
    for info in symbols.flow_steps(flow):
        first = seen.get(info.name)
        if first is None:
            seen[info.name] = info
            continue
        implicit = isinstance(info.step, A.Send) and info.step.name is None
        hint = (f"name this send, such as: send {info.name}_2 {quote(info.step.templates[0])}"
                if implicit and isinstance(info.step, A.Send)
                else "give each step its own name; later steps refer to steps by name")
        notes = [f"the first `{info.name}` is at {where(first.span)}"]
        if implicit:
            notes.append("a send without a name is named after its template")
        out.append(error("E0208", f"two steps of flow `{flow.name}` are named `{info.name}`",
                         _step_span(info), hint, *notes))
    return out


def check_definitions(modules: Sequence[A.Module], ctx: Context) -> list[Diagnostic]:
    table = per_folder(modules, "symbols", symbols.build)
    out = [_duplicate(d) for d in table.duplicates]
    for decl in table.core_conflicts:
        core = schema.CORE_ATTRIBUTES[decl.name]
        out.append(error("E0207", f"`{decl.name}` is a {core} attribute every lead has; it cannot "
                         f"be declared as {decl.type}", word_span(decl.span, len(decl.name) + 2,
                                                                  decl.type),
                         f"write `{decl.name}: {core}`, or declare a new attribute with another "
                         "name"))
    for edecl, kind in table.event_clashes:
        phrase = " ".join(edecl.words)
        builtin = kind in schema.EVENT_KINDS
        msg = (f"`{phrase}` is already a kind of event" if builtin
               else f"event kind `{phrase}` is declared twice")
        out.append(error("E0223", msg, word_span(edecl.span, 0, phrase),
                         f"remove `{phrase}` from `events:`"))
    for policy in table.policies[1:]:
        first = table.policies[0]
        out.append(error("E0206", "a folder has one policy, and this is a second `policy:` block",
                         word_span(policy.span, 0, "policy"),
                         "merge its lines into the first policy block",
                         f"the first policy is at {where(first.span)}"))
    for m in modules:
        for item in m.items:
            if isinstance(item, A.Flow):
                out.extend(_steps(item))
    return tidy(out)
