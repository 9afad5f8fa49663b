"""Parse tree -> AST. Builds nodes only; every judgement about meaning lives in the checker."""

from __future__ import annotations

from typing import Any

from lark import Token, Transformer, v_args
from lark.tree import Meta

from dsl import ast as A

UNITS = {
    "minute": "minute", "minutes": "minute", "min": "minute", "mins": "minute",
    "hour": "hour", "hours": "hour",
    "day": "day", "days": "day",
    "week": "week", "weeks": "week",
    "month": "month", "months": "month",
    "year": "year", "years": "year",
}


def unquote(token: str) -> str:
    """The text of a STRING token: quotes removed, ``\\"`` and ``\\\\`` unescaped."""
    body = token[1:-1]
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


@v_args(meta=True)
class ToAst(Transformer[Token, A.Module]):
    """One method per grammar rule or alias; ``self.file`` goes into every span."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file
        # Lark binds a fresh wrapper (functools.update_wrapper) on every callback lookup, once
        # per tree node; binding each callback once here takes a tenth off parsing.
        for name, attr in vars(ToAst).items():
            if hasattr(attr, "visit_wrapper"):
                setattr(self, name, getattr(self, name))

    def _sp(self, meta: Meta, *tokens: Any) -> A.Span:
        if not meta.empty:
            return A.Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)
        for t in tokens:
            if isinstance(t, Token) and t.line is not None:
                return A.Span(self.file, t.line, t.column or 1, t.end_line or t.line,
                              t.end_column or t.column or 1)
        return A.Span(self.file, 0, 0, 0, 0)

    def _tok_span(self, t: Token) -> A.Span:
        return A.Span(self.file, t.line or 0, t.column or 0, t.end_line or 0, t.end_column or 0)

    # -------------------------------------------------------------- small pieces

    def start(self, meta: Meta, items: list[Any]) -> A.Module:
        return A.Module(self.file, tuple(items), span=self._sp(meta))

    def words(self, meta: Meta, c: list[Token]) -> tuple[str, ...]:
        return tuple(str(t) for t in c)

    def names(self, meta: Meta, c: list[Token]) -> tuple[str, ...]:
        return tuple(str(t) for t in c)

    def strings(self, meta: Meta, c: list[Token]) -> tuple[str, ...]:
        return tuple(unquote(t) for t in c)

    def duration(self, meta: Meta, c: list[Token]) -> A.Duration:
        amount, unit = c
        return A.Duration(int(amount), UNITS.get(str(unit).lower(), str(unit)), span=self._sp(meta))

    def number(self, meta: Meta, c: list[Token]) -> A.Num:
        return A.Num(_number(c[0]), span=self._sp(meta, c[0]))

    def points(self, meta: Meta, c: list[Token]) -> int | float:
        return _number(str(c[0]))

    def name(self, meta: Meta, c: list[Token]) -> A.Name:
        return A.Name(str(c[0]), span=self._sp(meta, c[0]))

    def today(self, meta: Meta, c: list[Any]) -> A.Today:
        return A.Today(span=self._sp(meta))

    def string(self, meta: Meta, c: list[Token]) -> A.Str:
        return A.Str(unquote(c[0]), span=self._sp(meta, c[0]))

    def shift(self, meta: Meta, c: list[Any]) -> A.Shift:
        base, sign, dur = c
        return A.Shift(base, str(sign), dur, span=self._sp(meta))

    def value_list(self, meta: Meta, c: list[Any]) -> tuple[A.Operand, ...]:
        return tuple(c)

    def window(self, meta: Meta, c: list[Any]) -> A.Duration:
        return c[0]

    # -------------------------------------------------------------- events

    def event_match(self, meta: Meta, c: list[Any]) -> A.EventMatch:
        return A.EventMatch(c[0], tuple(c[1:]), span=self._sp(meta))

    def _str_filter(self, kind: str, meta: Meta, c: list[Token]) -> A.EventFilter:
        return A.EventFilter(kind, A.Str(unquote(c[0]), span=self._tok_span(c[0])),
                             span=self._sp(meta, c[0]))

    def filter_on(self, meta: Meta, c: list[Token]) -> A.EventFilter:
        return self._str_filter("on", meta, c)

    def filter_to(self, meta: Meta, c: list[Token]) -> A.EventFilter:
        return self._str_filter("to", meta, c)

    def filter_from(self, meta: Meta, c: list[Token]) -> A.EventFilter:
        return self._str_filter("from", meta, c)

    def filter_where(self, meta: Meta, c: list[A.PropTest]) -> A.EventFilter:
        return A.EventFilter("where", None, tuple(c), span=self._sp(meta))

    def prop_test(self, meta: Meta, c: list[Any]) -> A.PropTest:
        prop, op, value = c
        return A.PropTest(str(prop), str(op), value, span=self._sp(meta))

    def prop_matches(self, meta: Meta, c: list[Token]) -> A.PropTest:
        prop, pattern = c
        value = A.Str(unquote(pattern), span=self._tok_span(pattern))
        return A.PropTest(str(prop), "matches", value, span=self._sp(meta))

    # -------------------------------------------------------------- conditions

    def or_cond(self, meta: Meta, c: list[Any]) -> A.Or:
        return A.Or(tuple(c), span=self._sp(meta))

    def and_cond(self, meta: Meta, c: list[Any]) -> A.And:
        return A.And(tuple(c), span=self._sp(meta))

    def not_(self, meta: Meta, c: list[Any]) -> A.Not:
        return A.Not(c[0], span=self._sp(meta))

    def segment_ref(self, meta: Meta, c: list[Token]) -> A.SegmentRef:
        return A.SegmentRef(str(c[0]), span=self._sp(meta, c[0]))

    def goal_ref(self, meta: Meta, c: list[Any]) -> A.GoalRef:
        return A.GoalRef(span=self._sp(meta))

    def compare(self, meta: Meta, c: list[Any]) -> A.Compare:
        left, op, right = c
        return A.Compare(left, str(op), right, span=self._sp(meta))

    def is_(self, meta: Meta, c: list[Any]) -> A.Compare:
        return A.Compare(c[0], "is", c[1], span=self._sp(meta))

    def is_not(self, meta: Meta, c: list[Any]) -> A.Compare:
        return A.Compare(c[0], "is not", c[1], span=self._sp(meta))

    def is_known(self, meta: Meta, c: list[Any]) -> A.Known:
        return A.Known(c[0], True, span=self._sp(meta))

    def is_unknown(self, meta: Meta, c: list[Any]) -> A.Known:
        return A.Known(c[0], False, span=self._sp(meta))

    def in_(self, meta: Meta, c: list[Any]) -> A.InList:
        return A.InList(c[0], c[1], False, span=self._sp(meta))

    def not_in(self, meta: Meta, c: list[Any]) -> A.InList:
        return A.InList(c[0], c[1], True, span=self._sp(meta))

    def _text(self, op: str, meta: Meta, c: list[Any]) -> A.TextMatch:
        pattern = A.Str(unquote(c[1]), span=self._tok_span(c[1]))
        return A.TextMatch(c[0], op, pattern, span=self._sp(meta))

    def contains(self, meta: Meta, c: list[Any]) -> A.TextMatch:
        return self._text("contains", meta, c)

    def starts_with(self, meta: Meta, c: list[Any]) -> A.TextMatch:
        return self._text("starts with", meta, c)

    def ends_with(self, meta: Meta, c: list[Any]) -> A.TextMatch:
        return self._text("ends with", meta, c)

    def matches(self, meta: Meta, c: list[Any]) -> A.TextMatch:
        return self._text("matches", meta, c)

    def _date(self, op: str, meta: Meta, c: list[Any]) -> A.DateWindow:
        return A.DateWindow(c[0], op, c[1], span=self._sp(meta))

    def within(self, meta: Meta, c: list[Any]) -> A.DateWindow:
        return self._date("within", meta, c)

    def in_last(self, meta: Meta, c: list[Any]) -> A.DateWindow:
        return self._date("in last", meta, c)

    def more_than_ago(self, meta: Meta, c: list[Any]) -> A.DateWindow:
        return self._date("more than ago", meta, c)

    def less_than_ago(self, meta: Meta, c: list[Any]) -> A.DateWindow:
        return self._date("less than ago", meta, c)

    def _count(self, op: str, meta: Meta, n: int, rest: list[Any]) -> A.Count:
        window = rest[1] if len(rest) > 1 else None
        return A.Count(op, n, rest[0], window, span=self._sp(meta))

    def at_least(self, meta: Meta, c: list[Any]) -> A.Count:
        return self._count("at least", meta, int(c[0]), c[1:])

    def at_most(self, meta: Meta, c: list[Any]) -> A.Count:
        return self._count("at most", meta, int(c[0]), c[1:])

    def no_event(self, meta: Meta, c: list[Any]) -> A.Count:
        return self._count("no", meta, 0, c)

    def _did(self, verb: str, meta: Meta, c: list[Any], target: A.Name | A.Str | None) -> A.Did:
        window = c[-1] if c and isinstance(c[-1], A.Duration) else None
        return A.Did(verb, target, window, span=self._sp(meta))

    def clicked_step(self, meta: Meta, c: list[Any]) -> A.Did:
        return self._did("clicked", meta, c, A.Name(str(c[0]), span=self._tok_span(c[0])))

    def opened_step(self, meta: Meta, c: list[Any]) -> A.Did:
        return self._did("opened", meta, c, A.Name(str(c[0]), span=self._tok_span(c[0])))

    def clicked_any(self, meta: Meta, c: list[Any]) -> A.Did:
        return self._did("clicked", meta, c, None)

    def opened_any(self, meta: Meta, c: list[Any]) -> A.Did:
        return self._did("opened", meta, c, None)

    def _did_pattern(self, verb: str, meta: Meta, c: list[Any]) -> A.Did:
        return self._did(verb, meta, c, A.Str(unquote(c[0]), span=self._tok_span(c[0])))

    def visited(self, meta: Meta, c: list[Any]) -> A.Did:
        return self._did_pattern("visited", meta, c)

    def downloaded(self, meta: Meta, c: list[Any]) -> A.Did:
        return self._did_pattern("downloaded", meta, c)

    def submitted(self, meta: Meta, c: list[Any]) -> A.Did:
        return self._did_pattern("submitted", meta, c)

    def attended(self, meta: Meta, c: list[Any]) -> A.Did:
        return self._did_pattern("attended", meta, c)

    def last_more(self, meta: Meta, c: list[Any]) -> A.LastEvent:
        return A.LastEvent(c[0], True, c[1], span=self._sp(meta))

    def last_less(self, meta: Meta, c: list[Any]) -> A.LastEvent:
        return A.LastEvent(c[0], False, c[1], span=self._sp(meta))

    # -------------------------------------------------------------- definitions

    def attributes_def(self, meta: Meta, c: list[Any]) -> A.Attributes:
        return A.Attributes(tuple(c), span=self._sp(meta))

    def attr_decl(self, meta: Meta, c: list[Any]) -> A.AttributeDecl:
        values = c[2] if len(c) > 2 else None
        return A.AttributeDecl(str(c[0]), str(c[1]), values, span=self._sp(meta))

    def events_def(self, meta: Meta, c: list[Any]) -> A.Events:
        return A.Events(tuple(c), span=self._sp(meta))

    def event_decl(self, meta: Meta, c: list[Any]) -> A.EventDecl:
        return A.EventDecl(c[0], span=self._sp(meta))

    def tier_def(self, meta: Meta, c: list[Any]) -> A.Tier:
        return A.Tier(str(c[0]), str(c[1]), tuple(c[2:]), span=self._sp(meta))

    def tier_entry(self, meta: Meta, c: list[Any]) -> A.TierEntry:
        return A.TierEntry(str(c[0]), c[1], span=self._sp(meta))

    def tier_between(self, meta: Meta, c: list[A.Num]) -> A.TierRule:
        return A.TierRule("between", c[0].value, c[1].value, span=self._sp(meta))

    def tier_at_least(self, meta: Meta, c: list[A.Num]) -> A.TierRule:
        return A.TierRule("at least", c[0].value, span=self._sp(meta))

    def tier_below(self, meta: Meta, c: list[A.Num]) -> A.TierRule:
        return A.TierRule("below", high=c[0].value, span=self._sp(meta))

    def tier_matches(self, meta: Meta, c: list[Any]) -> A.TierRule:
        return A.TierRule("matches", texts=c[0], span=self._sp(meta))

    def tier_in(self, meta: Meta, c: list[Any]) -> A.TierRule:
        return A.TierRule("in", texts=c[0], span=self._sp(meta))

    def tier_otherwise(self, meta: Meta, c: list[Any]) -> A.TierRule:
        return A.TierRule("otherwise", span=self._sp(meta))

    def score_def(self, meta: Meta, c: list[Any]) -> A.Score:
        return A.Score(str(c[0]), tuple(c[1:]), span=self._sp(meta))

    def score_event(self, meta: Meta, c: list[Any]) -> A.EventPoints:
        window = c[2] if len(c) > 2 else None
        return A.EventPoints(c[0], c[1], window, span=self._sp(meta))

    def score_when(self, meta: Meta, c: list[Any]) -> A.WhenPoints:
        return A.WhenPoints(c[0], c[1], span=self._sp(meta))

    def score_half_life(self, meta: Meta, c: list[Any]) -> A.ScoreOption:
        return A.ScoreOption("half-life", duration=c[0], span=self._sp(meta))

    def score_window(self, meta: Meta, c: list[Any]) -> A.ScoreOption:
        return A.ScoreOption("window", duration=c[0], span=self._sp(meta))

    def score_cap(self, meta: Meta, c: list[Any]) -> A.ScoreOption:
        return A.ScoreOption("cap", value=c[0].value, span=self._sp(meta))

    def priority_def(self, meta: Meta, c: list[Any]) -> A.Priority:
        return A.Priority(str(c[0]), tuple(c[1:]), span=self._sp(meta))

    def priority_rule(self, meta: Meta, c: list[Any]) -> A.PriorityRule:
        return A.PriorityRule(int(c[0]), c[1], span=self._sp(meta))

    def priority_otherwise(self, meta: Meta, c: list[Any]) -> A.PriorityRule:
        return A.PriorityRule(int(c[0]), None, span=self._sp(meta))

    def policy_def(self, meta: Meta, c: list[Any]) -> A.Policy:
        return A.Policy(tuple(c), span=self._sp(meta))

    def policy_cap(self, meta: Meta, c: list[Any]) -> A.CapRule:
        count, noun, per = c
        return A.CapRule(int(count), str(noun), per, span=self._sp(meta))

    def period(self, meta: Meta, c: list[Any]) -> A.Duration:
        if isinstance(c[0], A.Duration):
            return c[0]
        unit = str(c[0])
        return A.Duration(1, UNITS.get(unit.lower(), unit), span=self._sp(meta, c[0]))

    def policy_hours(self, meta: Meta, c: list[Any]) -> A.SendHours:
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
        return A.SendHours(str(start), str(end), days, lead_zone, default_zone, span=self._sp(meta))

    def days(self, meta: Meta, c: list[Any]) -> tuple[str, Any]:
        return ("days", c[0])

    def lead_zone(self, meta: Meta, c: list[Any]) -> tuple[str, Any]:
        return ("lead_zone", True)

    def default_zone(self, meta: Meta, c: list[Token]) -> tuple[str, Any]:
        return ("default_zone", unquote(c[0]))

    def policy_never(self, meta: Meta, c: list[Any]) -> A.NeverEmail:
        return A.NeverEmail(c[0], span=self._sp(meta))

    def policy_consent(self, meta: Meta, c: list[Any]) -> A.PolicyFlag:
        return A.PolicyFlag("require consent", span=self._sp(meta))

    def policy_holidays(self, meta: Meta, c: list[Any]) -> A.PolicyFlag:
        return A.PolicyFlag("skip public holidays", span=self._sp(meta))

    def segment_def(self, meta: Meta, c: list[Any]) -> A.Segment:
        title = unquote(c[1]) if len(c) == 3 else None
        return A.Segment(str(c[0]), title, c[-1], span=self._sp(meta))

    def team_def(self, meta: Meta, c: list[Any]) -> A.Team:
        title = None
        rest = c[1:]
        if rest and isinstance(rest[0], Token):
            title = unquote(rest[0])
            rest = rest[1:]
        return A.Team(str(c[0]), title, tuple(rest), span=self._sp(meta))

    def team_email(self, meta: Meta, c: list[Token]) -> A.TeamChannel:
        return A.TeamChannel("email", unquote(c[0]), span=self._sp(meta))

    def team_webhook(self, meta: Meta, c: list[Token]) -> A.TeamChannel:
        return A.TeamChannel("webhook", unquote(c[0]), span=self._sp(meta))

    def merge_def(self, meta: Meta, c: list[Any]) -> A.Merge:
        return A.Merge(tuple(c), span=self._sp(meta))

    def merge_rule(self, meta: Meta, c: list[Any]) -> A.MergeRule:
        fields, (sources, then_newest), *rest = c
        return A.MergeRule(fields, sources, then_newest, bool(rest), span=self._sp(meta))

    def merge_prefer(self, meta: Meta, c: list[Any]) -> tuple[tuple[str, ...], bool]:
        then_newest = bool(c) and c[-1] is True
        sources = tuple(str(t) for t in c if isinstance(t, Token))
        return sources, then_newest

    def merge_newest(self, meta: Meta, c: list[Any]) -> tuple[tuple[str, ...], bool]:
        return (), False

    def then_newest(self, meta: Meta, c: list[Any]) -> bool:
        return True

    def blank_overwrites(self, meta: Meta, c: list[Any]) -> bool:
        return True

    # -------------------------------------------------------------- flows

    def flow_def(self, meta: Meta, c: list[Any]) -> A.Flow:
        title = None
        rest = c[1:]
        if rest and isinstance(rest[0], Token):
            title = unquote(rest[0])
            rest = rest[1:]
        return A.Flow(str(c[0]), title, tuple(rest), span=self._sp(meta))

    def schedule_every(self, meta: Meta, c: list[Any]) -> A.Schedule:
        days = c[0]
        times: tuple[str, ...] = ()
        zone = None
        for part in c[1:]:
            if isinstance(part, tuple):
                times = part
            else:
                zone = part
        return A.Schedule("every", days=days, times=times, zone=zone, span=self._sp(meta))

    def at_times(self, meta: Meta, c: list[Token]) -> tuple[str, ...]:
        return tuple(str(t) for t in c)

    def zone(self, meta: Meta, c: list[Token]) -> str:
        return unquote(c[0])

    def schedule_interval(self, meta: Meta, c: list[Any]) -> A.Schedule:
        amount, unit = c[0], c[1]
        dur = A.Duration(int(amount), UNITS.get(str(unit).lower(), str(unit)),
                         span=self._sp(meta, amount))
        zone = c[2] if len(c) > 2 else None
        return A.Schedule("interval", interval=dur, zone=zone, span=self._sp(meta))

    def schedule_cron(self, meta: Meta, c: list[Any]) -> A.Schedule:
        zone = c[1] if len(c) > 1 else None
        return A.Schedule("cron", cron=unquote(c[0]), zone=zone, span=self._sp(meta))

    def enter_when(self, meta: Meta, c: list[Any]) -> A.EnterWhen:
        return A.EnterWhen(c[0], span=self._sp(meta))

    def enter_on(self, meta: Meta, c: list[Any]) -> A.EnterOn:
        return A.EnterOn(c[0], c[1] if len(c) > 1 else None, span=self._sp(meta))

    def exit_when(self, meta: Meta, c: list[Any]) -> A.ExitWhen:
        return A.ExitWhen(c[0], span=self._sp(meta))

    def goal_when(self, meta: Meta, c: list[Any]) -> A.GoalWhen:
        return A.GoalWhen(c[0], span=self._sp(meta))

    def reenter_after(self, meta: Meta, c: list[Any]) -> A.ReEnter:
        return A.ReEnter(c[0], span=self._sp(meta))

    def reenter_never(self, meta: Meta, c: list[Any]) -> A.ReEnter:
        return A.ReEnter(None, span=self._sp(meta))

    def flow_priority(self, meta: Meta, c: list[Token]) -> A.FlowPriority:
        return A.FlowPriority(int(c[0]), span=self._sp(meta))

    def on_goal(self, meta: Meta, c: list[Any]) -> A.OnGoal:
        return A.OnGoal(c[0], span=self._sp(meta))

    def block(self, meta: Meta, c: list[Any]) -> tuple[A.Step, ...]:
        return tuple(c)

    def _send(self, meta: Meta, c: list[Any], series: bool) -> A.Send:
        name = None
        if isinstance(c[0], Token) and c[0].type == "NAME":
            name, c = str(c[0]), c[1:]
        templates = c[0] if series else (unquote(c[0]),)
        sender = c[1] if len(c) > 1 else None
        return A.Send(name, templates, series, sender, span=self._sp(meta))

    def send_one(self, meta: Meta, c: list[Any]) -> A.Send:
        return self._send(meta, c, False)

    def send_series(self, meta: Meta, c: list[Any]) -> A.Send:
        return self._send(meta, c, True)

    def sender_owner(self, meta: Meta, c: list[Token]) -> A.Sender:
        return A.Sender(True, unquote(c[0]) if c else None, span=self._sp(meta))

    def sender_fixed(self, meta: Meta, c: list[Token]) -> A.Sender:
        return A.Sender(False, unquote(c[0]), span=self._sp(meta))

    def wait_for(self, meta: Meta, c: list[Any]) -> A.WaitFor:
        return A.WaitFor(c[0], span=self._sp(meta))

    def wait_until(self, meta: Meta, c: list[Any]) -> A.WaitUntil:
        return A.WaitUntil(c[0], span=self._sp(meta))

    def wait_event(self, meta: Meta, c: list[Any]) -> A.WaitEvent:
        return A.WaitEvent(c[0], c[1], span=self._sp(meta))

    def if_step(self, meta: Meta, c: list[Any]) -> A.If:
        cond, steps, *rest = c
        branches = [A.Branch(cond, steps, span=self._sp(meta))]
        otherwise = None
        for part in rest:
            if isinstance(part, A.Branch):
                branches.append(part)
            else:
                otherwise = part
        return A.If(tuple(branches), otherwise, span=self._sp(meta))

    def elif_branch(self, meta: Meta, c: list[Any]) -> A.Branch:
        return A.Branch(c[0], c[1], span=self._sp(meta))

    def else_branch(self, meta: Meta, c: list[Any]) -> tuple[A.Step, ...]:
        return c[0]

    def split(self, meta: Meta, c: list[Any]) -> A.Split:
        return A.Split(str(c[0]), tuple(c[1:]), span=self._sp(meta))

    def split_branch(self, meta: Meta, c: list[Any]) -> A.SplitBranch:
        return A.SplitBranch(str(c[0]), _number(str(c[1])[:-1]), c[2], span=self._sp(meta))

    def holdout_branch(self, meta: Meta, c: list[Any]) -> A.SplitBranch:
        return A.SplitBranch(str(c[0]), _number(str(c[1])[:-1]), None, span=self._sp(meta))

    def repeat(self, meta: Meta, c: list[Any]) -> A.Repeat:
        every, *rest = c
        steps = rest.pop()
        until = next((r[1] for r in rest if r[0] == "until"), None)
        most = next((r[1] for r in rest if r[0] == "max"), None)
        return A.Repeat(every, until, most, steps, span=self._sp(meta))

    def repeat_until(self, meta: Meta, c: list[Any]) -> tuple[str, Any]:
        return ("until", c[0])

    def repeat_max(self, meta: Meta, c: list[Token]) -> tuple[str, Any]:
        return ("max", int(c[0]))

    def set_step(self, meta: Meta, c: list[Any]) -> A.SetAttr:
        return A.SetAttr(str(c[0]), c[1], span=self._sp(meta))

    def tag_add(self, meta: Meta, c: list[Token]) -> A.TagStep:
        return A.TagStep(True, unquote(c[0]), span=self._sp(meta))

    def tag_remove(self, meta: Meta, c: list[Token]) -> A.TagStep:
        return A.TagStep(False, unquote(c[0]), span=self._sp(meta))

    def notify_owner(self, meta: Meta, c: list[Token]) -> A.Notify:
        return A.Notify(True, None, unquote(c[0]), span=self._sp(meta))

    def notify_owner_or_team(self, meta: Meta, c: list[Token]) -> A.Notify:
        return A.Notify(True, str(c[0]), unquote(c[1]), span=self._sp(meta))

    def notify_team(self, meta: Meta, c: list[Token]) -> A.Notify:
        return A.Notify(False, str(c[0]), unquote(c[1]), span=self._sp(meta))

    def handoff(self, meta: Meta, c: list[Any]) -> A.Handoff:
        team, *rest = c
        priority = next((r[1] for r in rest if r[0] == "by"), None)
        per_day = next((r[1] for r in rest if r[0] == "cap"), None)
        return A.Handoff(str(team), priority, per_day, span=self._sp(meta))

    def by_priority(self, meta: Meta, c: list[Token]) -> tuple[str, Any]:
        return ("by", str(c[0]))

    def daily_cap(self, meta: Meta, c: list[Token]) -> tuple[str, Any]:
        return ("cap", int(c[0]))

    def exit_step(self, meta: Meta, c: list[Token]) -> A.ExitStep:
        return A.ExitStep(unquote(c[0]) if c else None, span=self._sp(meta))
