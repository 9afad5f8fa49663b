"""The canonical text of a flow file: what ``engine fmt`` writes.

One style, so reviews show meaning, not spacing. It is a function of the tree (plus the comments
and the blank lines the author chose to separate statements), so ``fmt(fmt(x)) == fmt(x)`` and
``parse(fmt(x)) == parse(x)``; tests/dsl/test_formatter.py holds it to both.

* 4 spaces per level; one statement per line, never wrapped (a statement spread over several
  lines inside parentheses is joined);
* exactly one blank line between top-level items, and always one before ``on goal:``; inside a
  block a blank line the author left is kept (a run becomes one), none before the first line
  of a block or before ``else``;
* canonical spacing: ``a = 1``, ``("a", "b")``, ``stage, owner: prefer crm over web``, a comma
  list without a trailing comma; a one-item ``strings`` list (tier ``matches``/``in``,
  ``send next of``) is printed without parentheses; every other form is printed as the grammar
  spells it (``is not``, ``no page view``, ``clicked any email``, a ``send`` without a name);
* tier entries align their rules, and score lines their points, in one column per block;
* texts are re-quoted with ``\\"``, ``\\\\``, ``\\n`` and ``\\t`` escapes; numbers print so they
  read back equal (points always signed: ``+5``, ``-10``); durations ``1 day`` / ``7 days``
  (a unit the language does not know is kept as written), ``per day`` for a one-unit period;
* conditions get only the parentheses the tree needs: ``or`` < ``and`` < ``not``, and a nested
  ``and`` inside ``and`` (or ``or`` inside ``or``) keeps its own, as the parser would otherwise
  flatten it into its parent. A ``repeat ... until`` condition ending in ``where ...`` is
  wrapped when ``, at most N times`` follows, because the grammar would read the comma as
  another ``where`` test;
* comments are all kept: see dsl/comments.py for where each goes.
"""

from __future__ import annotations

import unicodedata
from dataclasses import fields, is_dataclass
from decimal import Decimal
from typing import Any

from dsl import ast as A
from dsl.comments import AUTHOR, FORCE, NEVER, Comment, Stmt, attach, render, scan, trivia
from dsl.diagnostics import Diagnostic
from dsl.parser import parse_source
from dsl.transform import UNITS as UNIT_SPELLINGS

UNITS = frozenset(UNIT_SPELLINGS.values())  # the canonical singulars the parser stores


def format_source(path: str, text: str) -> tuple[str | None, list[Diagnostic]]:
    """The canonical text, or ``None`` and the syntax errors when ``text`` does not parse.
    Warnings (an empty file) come back beside the text."""
    module, diags = parse_source(path, text)
    if module is None:
        return None, diags
    return format_module(module, scan(text), source=text), diags


def format_module(module: A.Module, comments: list[Comment], *, source: str | None = None) -> str:
    """Print ``module`` with ``comments`` placed by their lines. ``source`` (the text the module
    was parsed from) makes placement exact: where multi-line statements end and which lines are
    blank; without it both are estimated from the spans."""
    root = Stmt("", children=[_item(item) for item in module.items])
    blank_before = attach(root, list(comments), trivia(source) if source is not None else None)
    return render(root, blank_before)


# ------------------------------------------------------------------ values


def quote(text: str) -> str:
    body = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            .replace("\t", "\\t"))
    return f'"{body}"'


def number(value: int | float) -> str:
    """Digits that read back as the same value and the same kind (``5`` vs ``5.0``): no
    exponent, since the grammar has none."""
    if isinstance(value, int):
        return str(value)
    text = repr(value)
    if "e" in text:
        text = format(Decimal(text), "f")
    return text if "." in text else text + ".0"


def points(value: int | float) -> str:
    return ("-" if value < 0 else "+") + number(abs(value))


def duration(d: A.Duration) -> str:
    plural = "s" if d.unit in UNITS and d.amount != 1 else ""
    return f"{d.amount} {d.unit}{plural}"


def operand(o: A.Operand) -> str:
    if isinstance(o, A.Str):
        return quote(o.value)
    if isinstance(o, A.Num):
        return number(o.value)
    if isinstance(o, A.Name):
        return o.name
    if isinstance(o, A.Shift):
        return f"{operand(o.base)} {o.sign} {duration(o.duration)}"
    return "today"


def values(items: tuple[A.Operand, ...]) -> str:
    return "(" + ", ".join(operand(v) for v in items) + ")"


def strings(items: tuple[str, ...]) -> str:
    if len(items) == 1:
        return quote(items[0])
    return "(" + ", ".join(quote(s) for s in items) + ")"


def event(e: A.EventMatch) -> str:
    parts = [" ".join(e.words)]
    for f in e.filters:
        if f.kind == "where":
            tests = ", ".join(f"{t.prop} {t.op} {operand(t.value)}" for t in f.tests)
            parts.append(f"where {tests}")
        else:
            parts.append(f"{f.kind} {quote(f.value.value if f.value else '')}")
    return " ".join(parts)


def window(d: A.Duration | None) -> str:
    return f" in last {duration(d)}" if d is not None else ""


# ------------------------------------------------------------------ conditions


def condition(c: A.Condition) -> str:
    if isinstance(c, A.Or):
        return " or ".join(_wrapped(i, (A.Or,)) for i in c.items)
    if isinstance(c, A.And):
        return " and ".join(_wrapped(i, (A.And, A.Or)) for i in c.items)
    if isinstance(c, A.Not):
        # `not size is sole` parses the same, but reads as "(not size) is sole": keep the
        # parentheses around anything longer than a name or a short verb
        return "not " + _wrapped(c.item, (A.And, A.Or, A.Compare, A.InList, A.TextMatch, A.Known,
                                          A.DateWindow, A.Count, A.LastEvent))
    if isinstance(c, A.Compare):
        return f"{operand(c.left)} {c.op} {operand(c.right)}"
    if isinstance(c, A.InList):
        return f"{operand(c.left)} {'not in' if c.negated else 'in'} {values(c.values)}"
    if isinstance(c, A.TextMatch):
        return f"{operand(c.left)} {c.op} {quote(c.pattern.value)}"
    if isinstance(c, A.Known):
        return f"{operand(c.left)} is {'known' if c.known else 'unknown'}"
    if isinstance(c, A.DateWindow):
        if c.op in ("within", "in last"):
            return f"{operand(c.left)} {c.op} {duration(c.duration)}"
        return f"{operand(c.left)} {c.op.removesuffix(' ago')} {duration(c.duration)} ago"
    if isinstance(c, A.Count):
        head = "no" if c.op == "no" else f"{c.op} {c.n}"
        return f"{head} {event(c.event)}{window(c.window)}"
    if isinstance(c, A.Did):
        if c.target is None:
            target = "any email"
        else:
            target = c.target.name if isinstance(c.target, A.Name) else quote(c.target.value)
        return f"{c.verb} {target}{window(c.window)}"
    if isinstance(c, A.LastEvent):
        more = "more" if c.more else "less"
        return f"last {event(c.event)} {more} than {duration(c.duration)} ago"
    if isinstance(c, A.SegmentRef):
        return c.name
    return "goal"


def _wrapped(c: A.Condition, kinds: tuple[type, ...]) -> str:
    return f"({condition(c)})" if isinstance(c, kinds) else condition(c)


def _ends_in_where(c: A.Condition) -> bool:
    """Does the printed condition end with a ``where`` test (no parenthesis after it)?"""
    if isinstance(c, A.Count):
        filters = c.event.filters
        return c.window is None and bool(filters) and filters[-1].kind == "where"
    if isinstance(c, A.Or):
        return not isinstance(c.items[-1], A.Or) and _ends_in_where(c.items[-1])
    if isinstance(c, A.And):
        return not isinstance(c.items[-1], A.And | A.Or) and _ends_in_where(c.items[-1])
    if isinstance(c, A.Not):
        return not isinstance(c.item, A.And | A.Or) and _ends_in_where(c.item)
    return False


# ------------------------------------------------------------------ statements


def _end(x: Any) -> int:
    """The last line any node inside ``x`` reaches (0 for none): estimates where a statement
    ends when the text is not at hand."""
    if isinstance(x, tuple):
        return max((_end(i) for i in x), default=0)
    if not is_dataclass(x) or isinstance(x, type):
        return 0
    return max(getattr(x, "span", A.NO_SPAN).end_line, _end(_inside(x)))


def _inside(node: Any) -> tuple[Any, ...]:
    """A statement's parts: its own span would reach the next line (it holds the newline)."""
    return tuple(getattr(node, f.name) for f in fields(node) if f.name != "span")


def _st(text: str, node: Any, *parts: Any, children: list[Stmt] | None = None,
        blank: str = AUTHOR) -> Stmt:
    """A printed line for ``node``; ``parts`` are what its line holds (for the end estimate)."""
    span = getattr(node, "span", A.NO_SPAN)
    return Stmt(text, span.line, span.column, children or [], blank, last=_end(parts))


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text) + 1)


def _title(title: str | None) -> str:
    return f" {quote(title)}" if title is not None else ""


def _item(item: A.Item) -> Stmt:
    if isinstance(item, A.Flow):
        head = f"flow {item.name}{_title(item.title)}:"
        items = [_flow_item(i) for i in item.items]
        children = [s for i in items for s in (i if isinstance(i, list) else [i])]
        return _st(head, item, children=children, blank=FORCE)
    if isinstance(item, A.Segment):
        text = f"segment {item.name}{_title(item.title)}: {condition(item.condition)}"
        return _st(text, item, item.condition, blank=FORCE)
    head, lines = _definition(item)
    return _st(head, item, children=lines, blank=FORCE)


def _definition(d: A.Definition) -> tuple[str, list[Stmt]]:
    if isinstance(d, A.Attributes):
        return "attributes:", [_st(f"{a.name}: {a.type}" + (
            f" one of {values(a.values)}" if a.values is not None else ""), a, a.values)
            for a in d.decls]
    if isinstance(d, A.Events):
        return "events:", [_st(" ".join(e.words), e) for e in d.decls]
    if isinstance(d, A.Tier):
        width = max(_width(e.name) for e in d.entries)
        return f"tier {d.name} from {d.source}:", [
            _st(_pad(e.name, width) + _tier_rule(e.rule), e, e.rule) for e in d.entries]
    if isinstance(d, A.Score):
        width = max((_width(points(s.points)) for s in d.lines
                     if isinstance(s, A.EventPoints | A.WhenPoints)), default=0)
        return f"score {d.name}:", [_st(_score_line(s, width), s, *_inside(s)) for s in d.lines]
    if isinstance(d, A.Priority):
        return f"priority {d.name}:", [_st(f"{r.rank}: " + (
            condition(r.condition) if r.condition is not None else "otherwise"), r, r.condition)
            for r in d.rules]
    if isinstance(d, A.Policy):
        return "policy:", [_st(_policy_line(p), p, *_inside(p)) for p in d.lines]
    if isinstance(d, A.Team):
        return f"team {d.name}{_title(d.title)}:", [
            _st(f"{c.kind} {quote(c.address)}", c) for c in d.channels]
    assert isinstance(d, A.Merge), d  # segments are one-line items: see _item
    return "merge:", [_st(_merge_rule(r), r) for r in d.rules]


def _tier_rule(r: A.TierRule) -> str:
    if r.kind == "between":
        return f"{number(r.low or 0)} to {number(r.high or 0)}"
    if r.kind == "at least":
        return f"{number(r.low or 0)} and above"
    if r.kind == "below":
        return f"below {number(r.high or 0)}"
    if r.kind in ("matches", "in"):
        return f"{r.kind} {strings(r.texts)}"
    return "otherwise"


def _score_line(s: A.ScoreLine, width: int) -> str:
    if isinstance(s, A.EventPoints):
        return _pad(points(s.points), width) + f"per {event(s.event)}{window(s.window)}"
    if isinstance(s, A.WhenPoints):
        return _pad(points(s.points), width) + f"when {condition(s.condition)}"
    if s.kind == "cap":
        return f"at most {number(s.value or 0)}"
    return f"{s.kind} {duration(s.duration or A.Duration(0, 'day'))}"


def _policy_line(p: A.PolicyLine) -> str:
    if isinstance(p, A.CapRule):
        per = p.per.unit if p.per.amount == 1 else duration(p.per)
        return f"at most {p.count} {p.noun} per lead per {per}"
    if isinstance(p, A.SendHours):
        text = f"send between {p.start} and {p.end}"
        text += f" on {' '.join(p.days)}" if p.days else ""
        text += " in lead time zone" if p.lead_zone else ""
        return text + (f", default {quote(p.default_zone)}" if p.default_zone is not None else "")
    if isinstance(p, A.NeverEmail):
        return f"never email when {condition(p.condition)}"
    return p.kind


def _merge_rule(r: A.MergeRule) -> str:
    if r.sources:
        how = "prefer " + " over ".join(r.sources) + (" then newest" if r.then_newest else "")
    else:
        how = "newest wins"
    return f"{', '.join(r.fields)}: {how}" + (", blank overwrites" if r.blank_overwrites else "")


# ------------------------------------------------------------------ flows


def _flow_item(i: A.FlowItem) -> Stmt | list[Stmt]:
    if isinstance(i, A.Schedule):
        return _st(_schedule(i), i)
    if isinstance(i, A.EnterWhen):
        return _st(f"enter when {condition(i.condition)}", i, i.condition)
    if isinstance(i, A.EnterOn):
        when = f" when {condition(i.condition)}" if i.condition is not None else ""
        return _st(f"enter on {event(i.event)}{when}", i, i.event, i.condition)
    if isinstance(i, A.ExitWhen):
        return _st(f"exit when {condition(i.condition)}", i, i.condition)
    if isinstance(i, A.GoalWhen):
        return _st(f"goal when {condition(i.condition)}", i, i.condition)
    if isinstance(i, A.ReEnter):
        after = f"after {duration(i.after)}" if i.after is not None else "never"
        return _st(f"re-enter {after}", i, i.after)
    if isinstance(i, A.FlowPriority):
        return _st(f"priority {i.value}", i)
    if isinstance(i, A.MoveStep):
        return _st(move(i), i)
    if isinstance(i, A.OnGoal):
        return _st("on goal:", i, children=_block(i.steps), blank=FORCE)
    return _step(i)


def move(m: A.MoveStep) -> str:
    if m.to is not None:
        return f"move {quote(m.old)} to {m.to}"
    return f"move {quote(m.old)} to exit" + (f" {quote(m.reason)}" if m.reason is not None else "")


def _schedule(s: A.Schedule) -> str:
    zone = f" {quote(s.zone)}" if s.zone is not None else ""
    if s.kind == "cron":
        return f"schedule cron {quote(s.cron or '')}{zone}"
    if s.kind == "interval" and s.interval is not None:
        return f"schedule every {duration(s.interval)}{zone}"
    times = f" at {', '.join(s.times)}" if s.times else ""
    return f"schedule every {', '.join(s.days)}{times}{zone}"


def _block(steps: tuple[A.Step, ...]) -> list[Stmt]:
    return [stmt for s in steps for stmt in _step(s)]


def _step(s: A.Step) -> list[Stmt]:
    if isinstance(s, A.If):
        return _if(s)
    if isinstance(s, A.Split):
        return [_st(f"split {s.name}:", s, children=[_split_branch(b) for b in s.branches])]
    if isinstance(s, A.Repeat):
        text = f"repeat every {duration(s.every)}"
        if s.until is not None:
            until = condition(s.until)
            if s.max_times is not None and _ends_in_where(s.until):
                until = f"({until})"
            text += f" until {until}"
        text += f", at most {s.max_times} times" if s.max_times is not None else ""
        return [_st(text + ":", s, s.every, s.until, children=_block(s.steps))]
    return [_st(_simple_step(s), s, *_inside(s))]


def _if(s: A.If) -> list[Stmt]:
    """One node, several printed headers at the same level: ``if``, each ``else if``, ``else``
    (which has no node, so its line is found in the text)."""
    first, *rest = s.branches
    out = [_st(f"if {condition(first.condition)}:", s, first.condition,
               children=_block(first.steps))]
    out.extend(_st(f"else if {condition(b.condition)}:", b, b.condition,
                   children=_block(b.steps), blank=NEVER) for b in rest)
    if s.otherwise is not None:
        out.append(Stmt("else:", 0, s.span.column, _block(s.otherwise), NEVER))
    return out


def _split_branch(b: A.SplitBranch) -> Stmt:
    head = f"{b.name} {number(b.percent)}%"
    if b.steps is None:
        return _st(head, b)
    return _st(head + ":", b, children=_block(b.steps))


def _simple_step(s: A.Step) -> str:
    if isinstance(s, A.Send):
        name = f" {s.name}" if s.name is not None else ""
        what = f"next of {strings(s.templates)}" if s.series else quote(s.templates[0])
        sender = ""
        if s.sender is not None:
            if s.sender.owner:
                fallback = s.sender.address
                sender = " from owner" + (f" or {quote(fallback)}" if fallback is not None else "")
            else:
                sender = f" from {quote(s.sender.address or '')}"
        return f"send{name} {what}{sender}"
    if isinstance(s, A.WaitFor):
        return f"wait {duration(s.duration)}"
    if isinstance(s, A.WaitUntil):
        return f"wait until {operand(s.date)}"
    if isinstance(s, A.WaitEvent):
        return f"wait until {condition(s.condition)} or {duration(s.timeout)}"
    if isinstance(s, A.SetAttr):
        return f"set {s.name} to {operand(s.value)}"
    if isinstance(s, A.TagStep):
        return f"{'add' if s.add else 'remove'} tag {quote(s.tag)}"
    if isinstance(s, A.Notify):
        if not s.owner:
            return f"notify team {s.team} {quote(s.template)}"
        team = f" or team {s.team}" if s.team is not None else ""
        return f"notify owner{team} {quote(s.template)}"
    if isinstance(s, A.Handoff):
        by = f" by {s.priority} priority" if s.priority is not None else ""
        cap = f", at most {s.per_day} per day" if s.per_day is not None else ""
        return f"handoff to {s.team}{by}{cap}"
    if isinstance(s, A.ExitStep):
        return "exit" + (f" {quote(s.reason)}" if s.reason is not None else "")
    raise TypeError(f"not a step: {type(s).__name__}")
