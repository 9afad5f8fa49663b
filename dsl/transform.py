"""Grammar rules -> AST nodes. Builds nodes only; every judgement about meaning is the checker's.

``Builder`` has one method per grammar rule or alias, called as ``method(children, pos)`` while a
rule is reduced: ``children`` are the rule's kept parts (tokens as ``Tok``, sub-rules as what
their own methods returned), ``pos`` is ``(line, column, end_line, end_column)`` of the whole
rule, keywords included, as Lark's ``propagate_positions`` computes it. Two drivers call it:
``dsl.lalr`` during the parse itself (no parse tree at all), and ``ToAst`` over a Lark parse tree
(the fallback, when the fast driver gives up on a text).
"""

from __future__ import annotations

from typing import Any

from lark import Token, Transformer, Tree

from dsl import ast as A

UNITS = {
    "minute": "minute", "minutes": "minute", "min": "minute", "mins": "minute",
    "hour": "hour", "hours": "hour",
    "day": "day", "days": "day",
    "week": "week", "weeks": "week",
    "month": "month", "months": "month",
    "year": "year", "years": "year",
}

Pos = tuple[int, int, int, int]  # line, column, end line, end column


class Tok:
    """A token the AST is built from: its terminal's name, its text and where it is."""

    __slots__ = ("type", "value", "line", "column", "end_line", "end_column")

    def __init__(self, type_: str, value: str, line: int, column: int, end_line: int,
                 end_column: int) -> None:
        self.type = type_
        self.value = value
        self.line = line
        self.column = column
        self.end_line = end_line
        self.end_column = end_column

    def __repr__(self) -> str:
        return f"Tok({self.type}, {self.value!r}, {self.line}:{self.column})"


def unquote(token: str) -> str:
    """The text of a STRING token: quotes removed, ``\\"`` and ``\\\\`` unescaped."""
    body = token[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _number(text: str) -> int | float:
    """Whole numbers stay exact ints (no float round trip); decimals are floats."""
    return float(text) if "." in text else int(text)


class Builder:
    """One method per grammar rule or alias; ``self.file`` goes into every span."""

    def __init__(self, file: str) -> None:
        self.file = file

    def _sp(self, p: Pos) -> A.Span:
        return A.Span(self.file, p[0], p[1], p[2], p[3])

    def _tok_span(self, t: Tok) -> A.Span:
        return A.Span(self.file, t.line or 0, t.column or 0, t.end_line or 0, t.end_column or 0)

    # -------------------------------------------------------------- small pieces

    def start(self, c: list[Any], p: Pos) -> tuple[A.Item, ...]:
        return tuple(c)

    def words(self, c: list[Tok], p: Pos) -> tuple[str, ...]:
        return tuple(t.value for t in c)

    def names(self, c: list[Tok], p: Pos) -> tuple[str, ...]:
        return tuple(t.value for t in c)

    def strings(self, c: list[Tok], p: Pos) -> tuple[str, ...]:
        return tuple(unquote(t.value) for t in c)

    def duration(self, c: list[Tok], p: Pos) -> A.Duration:
        amount, unit = c
        return A.Duration(int(amount.value), UNITS.get(unit.value.lower(), unit.value),
                          span=self._sp(p))

    def number(self, c: list[Tok], p: Pos) -> A.Num:
        return A.Num(_number(c[0].value), span=self._sp(p))

    def points(self, c: list[Tok], p: Pos) -> int | float:
        return _number(c[0].value)

    def name(self, c: list[Tok], p: Pos) -> A.Name:
        return A.Name(c[0].value, span=self._sp(p))

    def today(self, c: list[Any], p: Pos) -> A.Today:
        return A.Today(span=self._sp(p))

    def string(self, c: list[Tok], p: Pos) -> A.Str:
        return A.Str(unquote(c[0].value), span=self._sp(p))

    def shift(self, c: list[Any], p: Pos) -> A.Shift:
        base, sign, dur = c
        return A.Shift(base, sign.value, dur, span=self._sp(p))

    def value_list(self, c: list[Any], p: Pos) -> tuple[A.Operand, ...]:
        return tuple(c)

    def window(self, c: list[Any], p: Pos) -> A.Duration:
        return c[0]

    # -------------------------------------------------------------- events

    def event_match(self, c: list[Any], p: Pos) -> A.EventMatch:
        return A.EventMatch(c[0], tuple(c[1:]), span=self._sp(p))

    def _str_filter(self, kind: str, c: list[Tok], p: Pos) -> A.EventFilter:
        return A.EventFilter(kind, A.Str(unquote(c[0].value), span=self._tok_span(c[0])),
                             span=self._sp(p))

    def filter_on(self, c: list[Tok], p: Pos) -> A.EventFilter:
        return self._str_filter("on", c, p)

    def filter_to(self, c: list[Tok], p: Pos) -> A.EventFilter:
        return self._str_filter("to", c, p)

    def filter_from(self, c: list[Tok], p: Pos) -> A.EventFilter:
        return self._str_filter("from", c, p)

    def filter_where(self, c: list[A.PropTest], p: Pos) -> A.EventFilter:
        return A.EventFilter("where", None, tuple(c), span=self._sp(p))

    def prop_test(self, c: list[Any], p: Pos) -> A.PropTest:
        prop, op, value = c
        return A.PropTest(prop.value, op.value, value, span=self._sp(p))

    def prop_matches(self, c: list[Tok], p: Pos) -> A.PropTest:
        prop, pattern = c
        value = A.Str(unquote(pattern.value), span=self._tok_span(pattern))
        return A.PropTest(prop.value, "matches", value, span=self._sp(p))

    # -------------------------------------------------------------- conditions

    def or_cond(self, c: list[Any], p: Pos) -> A.Or:
        return A.Or(tuple(c), span=self._sp(p))

    def and_cond(self, c: list[Any], p: Pos) -> A.And:
        return A.And(tuple(c), span=self._sp(p))

    def not_(self, c: list[Any], p: Pos) -> A.Not:
        return A.Not(c[0], span=self._sp(p))

    def segment_ref(self, c: list[Tok], p: Pos) -> A.SegmentRef:
        return A.SegmentRef(c[0].value, span=self._sp(p))

    def goal_ref(self, c: list[Any], p: Pos) -> A.GoalRef:
        return A.GoalRef(span=self._sp(p))

    def compare(self, c: list[Any], p: Pos) -> A.Compare:
        left, op, right = c
        return A.Compare(left, op.value, right, span=self._sp(p))

    def is_(self, c: list[Any], p: Pos) -> A.Compare:
        return A.Compare(c[0], "is", c[1], span=self._sp(p))

    def is_not(self, c: list[Any], p: Pos) -> A.Compare:
        return A.Compare(c[0], "is not", c[1], span=self._sp(p))

    def is_known(self, c: list[Any], p: Pos) -> A.Known:
        return A.Known(c[0], True, span=self._sp(p))

    def is_unknown(self, c: list[Any], p: Pos) -> A.Known:
        return A.Known(c[0], False, span=self._sp(p))

    def in_(self, c: list[Any], p: Pos) -> A.InList:
        return A.InList(c[0], c[1], False, span=self._sp(p))

    def not_in(self, c: list[Any], p: Pos) -> A.InList:
        return A.InList(c[0], c[1], True, span=self._sp(p))

    def _text(self, op: str, c: list[Any], p: Pos) -> A.TextMatch:
        pattern = A.Str(unquote(c[1].value), span=self._tok_span(c[1]))
        return A.TextMatch(c[0], op, pattern, span=self._sp(p))

    def contains(self, c: list[Any], p: Pos) -> A.TextMatch:
        return self._text("contains", c, p)

    def starts_with(self, c: list[Any], p: Pos) -> A.TextMatch:
        return self._text("starts with", c, p)

    def ends_with(self, c: list[Any], p: Pos) -> A.TextMatch:
        return self._text("ends with", c, p)

    def matches(self, c: list[Any], p: Pos) -> A.TextMatch:
        return self._text("matches", c, p)

    def _date(self, op: str, c: list[Any], p: Pos) -> A.DateWindow:
        return A.DateWindow(c[0], op, c[1], span=self._sp(p))

    def within(self, c: list[Any], p: Pos) -> A.DateWindow:
        return self._date("within", c, p)

    def in_last(self, c: list[Any], p: Pos) -> A.DateWindow:
        return self._date("in last", c, p)

    def more_than_ago(self, c: list[Any], p: Pos) -> A.DateWindow:
        return self._date("more than ago", c, p)

    def less_than_ago(self, c: list[Any], p: Pos) -> A.DateWindow:
        return self._date("less than ago", c, p)

    def _count(self, op: str, n: int, rest: list[Any], p: Pos) -> A.Count:
        window = rest[1] if len(rest) > 1 else None
        return A.Count(op, n, rest[0], window, span=self._sp(p))

    def at_least(self, c: list[Any], p: Pos) -> A.Count:
        return self._count("at least", int(c[0].value), c[1:], p)

    def at_most(self, c: list[Any], p: Pos) -> A.Count:
        return self._count("at most", int(c[0].value), c[1:], p)

    def no_event(self, c: list[Any], p: Pos) -> A.Count:
        return self._count("no", 0, c, p)

    def _did(self, verb: str, c: list[Any], p: Pos, target: A.Name | A.Str | None) -> A.Did:
        window = c[-1] if c and isinstance(c[-1], A.Duration) else None
        return A.Did(verb, target, window, span=self._sp(p))

    def clicked_step(self, c: list[Any], p: Pos) -> A.Did:
        return self._did("clicked", c, p, A.Name(c[0].value, span=self._tok_span(c[0])))

    def opened_step(self, c: list[Any], p: Pos) -> A.Did:
        return self._did("opened", c, p, A.Name(c[0].value, span=self._tok_span(c[0])))

    def clicked_any(self, c: list[Any], p: Pos) -> A.Did:
        return self._did("clicked", c, p, None)

    def opened_any(self, c: list[Any], p: Pos) -> A.Did:
        return self._did("opened", c, p, None)

    def _did_pattern(self, verb: str, c: list[Any], p: Pos) -> A.Did:
        return self._did(verb, c, p, A.Str(unquote(c[0].value), span=self._tok_span(c[0])))

    def visited(self, c: list[Any], p: Pos) -> A.Did:
        return self._did_pattern("visited", c, p)

    def downloaded(self, c: list[Any], p: Pos) -> A.Did:
        return self._did_pattern("downloaded", c, p)

    def submitted(self, c: list[Any], p: Pos) -> A.Did:
        return self._did_pattern("submitted", c, p)

    def attended(self, c: list[Any], p: Pos) -> A.Did:
        return self._did_pattern("attended", c, p)

    def last_more(self, c: list[Any], p: Pos) -> A.LastEvent:
        return A.LastEvent(c[0], True, c[1], span=self._sp(p))

    def last_less(self, c: list[Any], p: Pos) -> A.LastEvent:
        return A.LastEvent(c[0], False, c[1], span=self._sp(p))

    # -------------------------------------------------------------- definitions

    def attributes_def(self, c: list[Any], p: Pos) -> A.Attributes:
        return A.Attributes(tuple(c), span=self._sp(p))

    def attr_decl(self, c: list[Any], p: Pos) -> A.AttributeDecl:
        values = c[2] if len(c) > 2 else None
        return A.AttributeDecl(c[0].value, c[1].value, values, span=self._sp(p))

    def events_def(self, c: list[Any], p: Pos) -> A.Events:
        return A.Events(tuple(c), span=self._sp(p))

    def event_decl(self, c: list[Any], p: Pos) -> A.EventDecl:
        return A.EventDecl(c[0], span=self._sp(p))

    def tier_def(self, c: list[Any], p: Pos) -> A.Tier:
        return A.Tier(c[0].value, c[1].value, tuple(c[2:]), span=self._sp(p))

    def tier_entry(self, c: list[Any], p: Pos) -> A.TierEntry:
        return A.TierEntry(c[0].value, c[1], span=self._sp(p))

    def tier_between(self, c: list[A.Num], p: Pos) -> A.TierRule:
        return A.TierRule("between", c[0].value, c[1].value, span=self._sp(p))

    def tier_at_least(self, c: list[A.Num], p: Pos) -> A.TierRule:
        return A.TierRule("at least", c[0].value, span=self._sp(p))

    def tier_below(self, c: list[A.Num], p: Pos) -> A.TierRule:
        return A.TierRule("below", high=c[0].value, span=self._sp(p))

    def tier_matches(self, c: list[Any], p: Pos) -> A.TierRule:
        return A.TierRule("matches", texts=c[0], span=self._sp(p))

    def tier_in(self, c: list[Any], p: Pos) -> A.TierRule:
        return A.TierRule("in", texts=c[0], span=self._sp(p))

    def tier_otherwise(self, c: list[Any], p: Pos) -> A.TierRule:
        return A.TierRule("otherwise", span=self._sp(p))

    def score_def(self, c: list[Any], p: Pos) -> A.Score:
        return A.Score(c[0].value, tuple(c[1:]), span=self._sp(p))

    def score_event(self, c: list[Any], p: Pos) -> A.EventPoints:
        window = c[2] if len(c) > 2 else None
        return A.EventPoints(c[0], c[1], window, span=self._sp(p))

    def score_when(self, c: list[Any], p: Pos) -> A.WhenPoints:
        return A.WhenPoints(c[0], c[1], span=self._sp(p))

    def score_half_life(self, c: list[Any], p: Pos) -> A.ScoreOption:
        return A.ScoreOption("half-life", duration=c[0], span=self._sp(p))

    def score_window(self, c: list[Any], p: Pos) -> A.ScoreOption:
        return A.ScoreOption("window", duration=c[0], span=self._sp(p))

    def score_cap(self, c: list[Any], p: Pos) -> A.ScoreOption:
        return A.ScoreOption("cap", value=c[0].value, span=self._sp(p))

    def priority_def(self, c: list[Any], p: Pos) -> A.Priority:
        return A.Priority(c[0].value, tuple(c[1:]), span=self._sp(p))

    def priority_rule(self, c: list[Any], p: Pos) -> A.PriorityRule:
        return A.PriorityRule(int(c[0].value), c[1], span=self._sp(p))

    def priority_otherwise(self, c: list[Any], p: Pos) -> A.PriorityRule:
        return A.PriorityRule(int(c[0].value), None, span=self._sp(p))

    def policy_def(self, c: list[Any], p: Pos) -> A.Policy:
        return A.Policy(tuple(c), span=self._sp(p))

    def policy_cap(self, c: list[Any], p: Pos) -> A.CapRule:
        count, noun, per = c
        return A.CapRule(int(count.value), noun.value, per, span=self._sp(p))

    def period(self, c: list[Any], p: Pos) -> A.Duration:
        if isinstance(c[0], A.Duration):
            return c[0]
        unit = c[0].value
        return A.Duration(1, UNITS.get(unit.lower(), unit), span=self._sp(p))

    def policy_hours(self, c: list[Any], p: Pos) -> A.SendHours:
        start, end, *rest = c
        days: tuple[str, ...] = ()
        lead_zone = False
        default_zone = None
        for kind, value in rest:
            if kind == "days":
                days = value
            elif kind == "lead_zone":
                lead_zone = True
            else:
                default_zone = value
        return A.SendHours(start.value, end.value, days, lead_zone, default_zone,
                           span=self._sp(p))

    def days(self, c: list[Any], p: Pos) -> tuple[str, Any]:
        return ("days", c[0])

    def lead_zone(self, c: list[Any], p: Pos) -> tuple[str, Any]:
        return ("lead_zone", True)

    def default_zone(self, c: list[Tok], p: Pos) -> tuple[str, Any]:
        return ("default_zone", unquote(c[0].value))

    def policy_never(self, c: list[Any], p: Pos) -> A.NeverEmail:
        return A.NeverEmail(c[0], span=self._sp(p))

    def policy_consent(self, c: list[Any], p: Pos) -> A.PolicyFlag:
        return A.PolicyFlag("require consent", span=self._sp(p))

    def policy_holidays(self, c: list[Any], p: Pos) -> A.PolicyFlag:
        return A.PolicyFlag("skip public holidays", span=self._sp(p))

    def segment_def(self, c: list[Any], p: Pos) -> A.Segment:
        title = unquote(c[1].value) if len(c) == 3 else None
        return A.Segment(c[0].value, title, c[-1], span=self._sp(p))

    def team_def(self, c: list[Any], p: Pos) -> A.Team:
        title = None
        rest = c[1:]
        if rest and isinstance(rest[0], Tok):
            title = unquote(rest[0].value)
            rest = rest[1:]
        return A.Team(c[0].value, title, tuple(rest), span=self._sp(p))

    def team_email(self, c: list[Tok], p: Pos) -> A.TeamChannel:
        return A.TeamChannel("email", unquote(c[0].value), span=self._sp(p))

    def team_webhook(self, c: list[Tok], p: Pos) -> A.TeamChannel:
        return A.TeamChannel("webhook", unquote(c[0].value), span=self._sp(p))

    def merge_def(self, c: list[Any], p: Pos) -> A.Merge:
        return A.Merge(tuple(c), span=self._sp(p))

    def merge_rule(self, c: list[Any], p: Pos) -> A.MergeRule:
        fields, (sources, then_newest), *rest = c
        return A.MergeRule(fields, sources, then_newest, bool(rest), span=self._sp(p))

    def merge_prefer(self, c: list[Any], p: Pos) -> tuple[tuple[str, ...], bool]:
        then_newest = bool(c) and c[-1] is True
        sources = tuple(t.value for t in c if isinstance(t, Tok))
        return sources, then_newest

    def merge_newest(self, c: list[Any], p: Pos) -> tuple[tuple[str, ...], bool]:
        return (), False

    def then_newest(self, c: list[Any], p: Pos) -> bool:
        return True

    def blank_overwrites(self, c: list[Any], p: Pos) -> bool:
        return True

    # -------------------------------------------------------------- flows

    def flow_def(self, c: list[Any], p: Pos) -> A.Flow:
        title = None
        rest = c[1:]
        if rest and isinstance(rest[0], Tok):
            title = unquote(rest[0].value)
            rest = rest[1:]
        return A.Flow(c[0].value, title, tuple(rest), span=self._sp(p))

    def schedule_every(self, c: list[Any], p: Pos) -> A.Schedule:
        days = c[0]
        times: tuple[str, ...] = ()
        zone = None
        for part in c[1:]:
            if isinstance(part, tuple):
                times = part
            else:
                zone = part
        return A.Schedule("every", days=days, times=times, zone=zone, span=self._sp(p))

    def at_times(self, c: list[Tok], p: Pos) -> tuple[str, ...]:
        return tuple(t.value for t in c)

    def zone(self, c: list[Tok], p: Pos) -> str:
        return unquote(c[0].value)

    def schedule_interval(self, c: list[Any], p: Pos) -> A.Schedule:
        amount, unit = c[0], c[1]
        dur = A.Duration(int(amount.value), UNITS.get(unit.value.lower(), unit.value),
                         span=self._sp(p))
        zone = c[2] if len(c) > 2 else None
        return A.Schedule("interval", interval=dur, zone=zone, span=self._sp(p))

    def schedule_cron(self, c: list[Any], p: Pos) -> A.Schedule:
        zone = c[1] if len(c) > 1 else None
        return A.Schedule("cron", cron=unquote(c[0].value), zone=zone, span=self._sp(p))

    def enter_when(self, c: list[Any], p: Pos) -> A.EnterWhen:
        return A.EnterWhen(c[0], span=self._sp(p))

    def enter_on(self, c: list[Any], p: Pos) -> A.EnterOn:
        return A.EnterOn(c[0], c[1] if len(c) > 1 else None, span=self._sp(p))

    def exit_when(self, c: list[Any], p: Pos) -> A.ExitWhen:
        return A.ExitWhen(c[0], span=self._sp(p))

    def goal_when(self, c: list[Any], p: Pos) -> A.GoalWhen:
        return A.GoalWhen(c[0], span=self._sp(p))

    def reenter_after(self, c: list[Any], p: Pos) -> A.ReEnter:
        return A.ReEnter(c[0], span=self._sp(p))

    def reenter_never(self, c: list[Any], p: Pos) -> A.ReEnter:
        return A.ReEnter(None, span=self._sp(p))

    def flow_priority(self, c: list[Tok], p: Pos) -> A.FlowPriority:
        return A.FlowPriority(int(c[0].value), span=self._sp(p))

    def move_to(self, c: list[Tok], p: Pos) -> A.MoveStep:
        return A.MoveStep(unquote(c[0].value), c[1].value, None, span=self._sp(p))

    def move_out(self, c: list[Tok], p: Pos) -> A.MoveStep:
        reason = unquote(c[1].value) if len(c) > 1 else None
        return A.MoveStep(unquote(c[0].value), None, reason, span=self._sp(p))

    def on_goal(self, c: list[Any], p: Pos) -> A.OnGoal:
        return A.OnGoal(c[0], span=self._sp(p))

    def block(self, c: list[Any], p: Pos) -> tuple[A.Step, ...]:
        return tuple(c)

    def _send(self, c: list[Any], p: Pos, series: bool) -> A.Send:
        name = None
        if isinstance(c[0], Tok) and c[0].type == "NAME":
            name, c = c[0].value, c[1:]
        templates = c[0] if series else (unquote(c[0].value),)
        sender = c[1] if len(c) > 1 else None
        return A.Send(name, templates, series, sender, span=self._sp(p))

    def send_one(self, c: list[Any], p: Pos) -> A.Send:
        return self._send(c, p, False)

    def send_series(self, c: list[Any], p: Pos) -> A.Send:
        return self._send(c, p, True)

    def sender_owner(self, c: list[Tok], p: Pos) -> A.Sender:
        return A.Sender(True, unquote(c[0].value) if c else None, span=self._sp(p))

    def sender_fixed(self, c: list[Tok], p: Pos) -> A.Sender:
        return A.Sender(False, unquote(c[0].value), span=self._sp(p))

    def wait_for(self, c: list[Any], p: Pos) -> A.WaitFor:
        return A.WaitFor(c[0], span=self._sp(p))

    def wait_until(self, c: list[Any], p: Pos) -> A.WaitUntil:
        return A.WaitUntil(c[0], span=self._sp(p))

    def wait_event(self, c: list[Any], p: Pos) -> A.WaitEvent:
        return A.WaitEvent(c[0], c[1], span=self._sp(p))

    def if_step(self, c: list[Any], p: Pos) -> A.If:
        cond, steps, *rest = c
        branches = [A.Branch(cond, steps, span=self._sp(p))]
        otherwise = None
        for part in rest:
            if isinstance(part, A.Branch):
                branches.append(part)
            else:
                otherwise = part
        return A.If(tuple(branches), otherwise, span=self._sp(p))

    def elif_branch(self, c: list[Any], p: Pos) -> A.Branch:
        return A.Branch(c[0], c[1], span=self._sp(p))

    def else_branch(self, c: list[Any], p: Pos) -> tuple[A.Step, ...]:
        return c[0]

    def split(self, c: list[Any], p: Pos) -> A.Split:
        return A.Split(c[0].value, tuple(c[1:]), span=self._sp(p))

    def split_branch(self, c: list[Any], p: Pos) -> A.SplitBranch:
        return A.SplitBranch(c[0].value, _number(c[1].value[:-1]), c[2], span=self._sp(p))

    def holdout_branch(self, c: list[Any], p: Pos) -> A.SplitBranch:
        return A.SplitBranch(c[0].value, _number(c[1].value[:-1]), None, span=self._sp(p))

    def repeat(self, c: list[Any], p: Pos) -> A.Repeat:
        every, *rest = c
        steps = rest.pop()
        until = next((r[1] for r in rest if r[0] == "until"), None)
        most = next((r[1] for r in rest if r[0] == "max"), None)
        return A.Repeat(every, until, most, steps, span=self._sp(p))

    def repeat_until(self, c: list[Any], p: Pos) -> tuple[str, Any]:
        return ("until", c[0])

    def repeat_max(self, c: list[Tok], p: Pos) -> tuple[str, Any]:
        return ("max", int(c[0].value))

    def set_step(self, c: list[Any], p: Pos) -> A.SetAttr:
        return A.SetAttr(c[0].value, c[1], span=self._sp(p))

    def tag_add(self, c: list[Tok], p: Pos) -> A.TagStep:
        return A.TagStep(True, unquote(c[0].value), span=self._sp(p))

    def tag_remove(self, c: list[Tok], p: Pos) -> A.TagStep:
        return A.TagStep(False, unquote(c[0].value), span=self._sp(p))

    def notify_owner(self, c: list[Tok], p: Pos) -> A.Notify:
        return A.Notify(True, None, unquote(c[0].value), span=self._sp(p))

    def notify_owner_or_team(self, c: list[Tok], p: Pos) -> A.Notify:
        return A.Notify(True, c[0].value, unquote(c[1].value), span=self._sp(p))

    def notify_team(self, c: list[Tok], p: Pos) -> A.Notify:
        return A.Notify(False, c[0].value, unquote(c[1].value), span=self._sp(p))

    def handoff(self, c: list[Any], p: Pos) -> A.Handoff:
        team, *rest = c
        priority = next((r[1] for r in rest if r[0] == "by"), None)
        per_day = next((r[1] for r in rest if r[0] == "cap"), None)
        return A.Handoff(team.value, priority, per_day, span=self._sp(p))

    def by_priority(self, c: list[Tok], p: Pos) -> tuple[str, Any]:
        return ("by", c[0].value)

    def daily_cap(self, c: list[Tok], p: Pos) -> tuple[str, Any]:
        return ("cap", int(c[0].value))

    def exit_step(self, c: list[Tok], p: Pos) -> A.ExitStep:
        return A.ExitStep(unquote(c[0].value) if c else None, span=self._sp(p))


class ToAst(Transformer[Token, Any]):
    """The builder over a Lark parse tree: the fallback path (see ``dsl.lalr``). Recursion is
    Lark's, so a tree too deep to walk raises ``RecursionError`` as it always did."""

    def __init__(self, builder: Builder) -> None:
        super().__init__()
        self.builder = builder

    def __default__(self, data: str, children: list[Any], meta: Any) -> Any:
        method = getattr(self.builder, str(data), None)
        if method is None or str(data).startswith("_"):  # no rule of ours: keep Lark's node
            return Tree(data, children, meta)
        p = (0, 0, 0, 0) if meta.empty else (meta.line, meta.column, meta.end_line,
                                             meta.end_column)
        return method(children, p)

    def __default_token__(self, token: Token) -> Tok:
        return Tok(token.type, token.value, token.line or 0, token.column or 0,
                   token.end_line or 0, token.end_column or 0)
