"""Pass: every name used must be defined, and be the right kind of thing for where it is used.

Codes: E0201 unknown name in a condition, E0202 a value name used as a whole condition,
E0203 not a category of the tier, E0204 a bare word where a text was meant, E0217 unknown
priority, E0218 unknown team, E0219 tier source not an attribute, E0220 merge field not an
attribute, E0221 ``set`` of something that is not a settable attribute, E0222 a name of the
wrong kind (a segment compared, a team used as a value...).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from dsl import ast as A
from dsl import symbols as S
from dsl.checks.memo import per_folder
from dsl.checks.walk import index, tidy, word_span
from dsl.diagnostics import Diagnostic, did_you_mean, error

if TYPE_CHECKING:
    from dsl.check import Context

BOOLEANS = ("true", "false")
EXAMPLE = {"number": "{n} > 100", "text": '{n} is "..."', "date": "{n} within 30 days",
           "boolean": "{n} is true", S.CATEGORY: "{n} is {c}"}


# What CRMs and spreadsheets call the core attributes, for "did you mean".
SYNONYMS = {"headcount": "employees", "employee_count": "employees", "staff": "employees",
            "job_title": "title", "position": "title", "company_name": "company",
            "organization": "company", "sector": "industry", "lifecycle_stage": "stage",
            "status": "stage", "email_address": "email", "mail": "email",
            "timezone": "time_zone", "tz": "time_zone", "lang": "language",
            "phone_number": "phone", "tel": "phone", "created": "created_at",
            "opt_in": "consent", "optin": "consent", "rep": "owner", "sales_rep": "owner"}


def _hint(word: str, known: Iterable[str], otherwise: str | None = None) -> str | None:
    known = list(known)
    alias = SYNONYMS.get(word.lower())
    if alias is not None and alias in known:
        return f"did you mean `{alias}`?"
    return did_you_mean(word, known) or otherwise


def _wrong_kind(name: A.Name, kind: str, role: str) -> Diagnostic:
    if kind == S.SEGMENT:
        return error("E0222", f"`{name.name}` is a segment, a condition on its own; it cannot be "
                     f"{role}", name.span, f"use it alone, as in `{name.name} and ...`")
    return error("E0222", f"`{name.name}` is a {kind}, not a value that can be {role}", name.span,
                 "compare an attribute, a tier or a score")


def _value(op: A.Operand, table: S.Symbols, role: str = "compared") -> Iterator[Diagnostic]:
    """A name standing for a value (left of a comparison, base of a date shift...)."""
    if isinstance(op, A.Shift):
        yield from _value(op.base, table, role)
        return
    if not isinstance(op, A.Name):
        return
    kind = table.kind_of(op.name)
    if kind is None:
        yield error("E0201", f"unknown name `{op.name}`", op.span,
                    _hint(op.name, table.condition_names(),
                          "declare it under `attributes:`, or define a tier or score by this "
                          "name"))
    elif kind not in (S.ATTRIBUTE, S.TIER, S.SCORE):
        yield _wrong_kind(op, kind, role)


def _right(op: A.Operand, left: A.Operand, table: S.Symbols) -> Iterator[Diagnostic]:
    """A value compared with ``left``: a tier's category, another value name, or true/false."""
    if isinstance(op, A.Shift):
        yield from _value(op.base, table)
        return
    if not isinstance(op, A.Name):
        return
    if isinstance(left, A.Name) and table.kind_of(left.name) == S.TIER:
        cats = table.categories(left.name)
        if op.name not in cats:
            yield error("E0203", f"`{op.name}` is not a category of tier `{left.name}`", op.span,
                        _hint(op.name, cats, f"its categories are: {', '.join(cats)}"))
        return
    if op.name in BOOLEANS:
        return
    kind = table.kind_of(op.name)
    left_type = table.type_of(left.name) if isinstance(left, A.Name) else None
    if kind is None and left_type in ("number", "date"):
        yield error("E0201", f"unknown name `{op.name}`", op.span,
                    _hint(op.name, table.value_names(), f"compare with a {left_type}"))
    elif kind is None:
        yield error("E0204", f"unknown name `{op.name}`; texts go in double quotes", op.span,
                    f'"{op.name}"')
    elif kind not in (S.ATTRIBUTE, S.TIER, S.SCORE):
        yield _wrong_kind(op, kind, "compared")


def _example(name: str, table: S.Symbols) -> str:
    type_ = table.type_of(name) or "text"
    cats = table.categories(name)
    return EXAMPLE.get(type_, "{n} is ...").format(n=name, c=cats[0] if cats else "...")


def _leaf(leaf: A.Condition, table: S.Symbols) -> Iterator[Diagnostic]:
    if isinstance(leaf, A.Compare | A.InList):
        left = list(_value(leaf.left, table))
        yield from left
        if left:  # what the right side should be depends on the left side
            return
        for v in (leaf.right,) if isinstance(leaf, A.Compare) else leaf.values:
            yield from _right(v, leaf.left, table)
    elif isinstance(leaf, A.TextMatch | A.Known | A.DateWindow):
        yield from _value(leaf.left, table)
    elif isinstance(leaf, A.SegmentRef):
        kind = table.kind_of(leaf.name)
        if kind in (S.ATTRIBUTE, S.TIER, S.SCORE):
            yield error("E0202", f"`{leaf.name}` needs a comparison, such as "
                        f"{_example(leaf.name, table)}", leaf.span,
                        "a bare name in a condition must be a segment")
        elif kind is None:
            yield error("E0201", f"unknown name `{leaf.name}`", leaf.span,
                        _hint(leaf.name, [*table.segments, *table.condition_names()],
                              "a bare name in a condition must be a segment; define it with "
                              f"`segment {leaf.name}: <condition>`"))
        elif kind != S.SEGMENT:
            yield error("E0222", f"`{leaf.name}` is a {kind}, not a condition", leaf.span,
                        _hint(leaf.name, table.segments))


def _set(step: A.SetAttr, table: S.Symbols) -> Iterator[Diagnostic]:
    span = word_span(step.span, len("set "), step.name)
    kind = table.kind_of(step.name)
    if step.name == "email":
        yield error("E0221", "a lead's `email` cannot be set by a flow", span,
                    "the email address identifies the lead; change it by importing")
    elif kind is None:
        yield error("E0221", f"unknown attribute `{step.name}`", span,
                    _hint(step.name, table.attributes,
                          f"declare it under `attributes:`, such as `{step.name}: text`"))
    elif kind == S.TIER:
        tier = table.tiers[step.name]
        yield error("E0221", f"`{step.name}` is a tier, worked out from `{tier.source}`; it "
                    "cannot be set", span, f"set `{tier.source}` instead")
    elif kind != S.ATTRIBUTE:
        yield error("E0221", f"`{step.name}` is a {kind}, not an attribute; it cannot be set",
                    span, _hint(step.name, table.attributes))
    value = step.value
    if kind != S.ATTRIBUTE or step.name == "email":
        return
    if isinstance(value, A.Name) and value.name not in BOOLEANS:
        vkind = table.kind_of(value.name)
        if vkind is None:
            yield error("E0204", f"unknown name `{value.name}`; texts go in double quotes",
                        value.span, f'"{value.name}"')
        elif vkind not in (S.ATTRIBUTE, S.TIER, S.SCORE):
            yield _wrong_kind(value, vkind, "set")
    elif isinstance(value, A.Shift):
        yield from _value(value.base, table)


def _listed(what: str, names: Iterable[str]) -> str | None:
    shown = sorted(names)
    return f"the {what} are: {', '.join(shown[:10])}" if shown else None


def _team(team: str, span: A.Span, table: S.Symbols) -> Iterator[Diagnostic]:
    if team not in table.teams:
        yield error("E0218", f"unknown team `{team}`", span,
                    _hint(team, table.teams, _listed("teams", table.teams)
                          or f"define it: `team {team}:` with an email or webhook line"))


STEPS = (A.SetAttr, A.WaitUntil, A.Handoff, A.Notify)


def _step(step: object, table: S.Symbols) -> Iterator[Diagnostic]:
    if isinstance(step, A.SetAttr):
        yield from _set(step, table)
    elif isinstance(step, A.WaitUntil):
        yield from _value(step.date, table, "waited for")
    elif isinstance(step, A.Handoff):
        skip = len("handoff to ")
        yield from _team(step.team, word_span(step.span, skip, step.team), table)
        if step.priority is not None and step.priority not in table.priorities:
            span = word_span(step.span, skip + len(step.team) + len(" by "), step.priority)
            yield error("E0217", f"unknown priority `{step.priority}`", span,
                        _hint(step.priority, table.priorities,
                              _listed("priority orders", table.priorities)
                              or f"define it: `priority {step.priority}:` with numbered lines"))
    elif isinstance(step, A.Notify) and step.team is not None:
        skip = len("notify owner or team ") if step.owner else len("notify team ")
        yield from _team(step.team, word_span(step.span, skip, step.team), table)


def _definitions(modules: Sequence[A.Module], table: S.Symbols) -> Iterator[Diagnostic]:
    for m in modules:
        for item in m.items:
            if isinstance(item, A.Tier) and table.kind_of(item.source) != S.ATTRIBUTE:
                span = word_span(item.span, len(f"tier {item.name} from "), item.source)
                kind = table.kind_of(item.source)
                what = f"a {kind}" if kind else "not an attribute"
                yield error("E0219", f"tier `{item.name}` is worked out from `{item.source}`, "
                            f"which is {what}", span,
                            _hint(item.source, table.attributes,
                                  "a tier puts the values of an attribute into categories"))
            elif isinstance(item, A.Merge):
                for rule in item.rules:
                    col = 0
                    for f in rule.fields:
                        if table.kind_of(f) != S.ATTRIBUTE:
                            yield error("E0220", f"`{f}` is not an attribute, so it has no merge "
                                        "rule", word_span(rule.span, col, f),
                                        _hint(f, table.attributes, "merge rules are per attribute"))
                        col += len(f) + 2


def check_names(modules: Sequence[A.Module], ctx: Context) -> list[Diagnostic]:
    table = S.build(modules)
    out: list[Diagnostic] = list(_definitions(modules, table))
    idx = per_folder(modules, "index", index)
    for leaf, _site in idx.leaves:
        out.extend(_leaf(leaf, table))
    for node, flow, _file in idx.of(*STEPS):
        if flow is not None:
            out.extend(_step(node, table))
    return tidy(out)
