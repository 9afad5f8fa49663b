"""The flow language's syntax tree: frozen dataclasses, each carrying the span it came from.

Spans never take part in equality (``compare=False``), so two trees parsed from differently
formatted text compare equal when they mean the same thing; the formatter's round-trip property
rests on that.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """Where a node sits in its file; lines and columns count from 1."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int


NO_SPAN = Span("", 0, 0, 0, 0)


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False, kw_only=True)  # type: ignore[return-value]


# ------------------------------------------------------------------ values


@dataclass(frozen=True, slots=True)
class Duration:
    """``7 days``. ``unit`` is the canonical singular (``day``) when recognised, else as written."""

    amount: int
    unit: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Str:
    value: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Num:
    value: int | float
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Name:
    """A bare word: an attribute, tier or score, or (right of ``is``) a category or constant."""

    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Today:
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Shift:
    """Date arithmetic: ``renewal_date - 90 days``."""

    base: Operand
    sign: str  # "+" or "-"
    duration: Duration
    span: Span = _span()


Operand = Str | Num | Name | Today | Shift


# ------------------------------------------------------------------ events


@dataclass(frozen=True, slots=True)
class PropTest:
    """``where asset = "guide"``; ``op`` is a comparison sign or ``matches``."""

    prop: str
    op: str
    value: Operand
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class EventFilter:
    """``on "/pricing*"`` (kind ``on``), ``to "recycle"``, ``from "mql"`` or ``where ...``."""

    kind: str
    value: Str | None = None
    tests: tuple[PropTest, ...] = ()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class EventMatch:
    """Which events: the kind as written (``page view``) and filters on their properties."""

    words: tuple[str, ...]
    filters: tuple[EventFilter, ...] = ()
    span: Span = _span()

    @property
    def phrase(self) -> str:
        return " ".join(self.words)


# ------------------------------------------------------------------ conditions


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Condition, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Condition, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Compare:
    """``left op right`` with op one of ``= != < <= > >=``; ``is`` / ``is not`` keep their words."""

    left: Operand
    op: str  # "=", "!=", "<", "<=", ">", ">=", "is", "is not"
    right: Operand
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class InList:
    left: Operand
    values: tuple[Operand, ...]
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TextMatch:
    """``contains``, ``starts with``, ``ends with`` or ``matches`` (a ``*`` wildcard pattern)."""

    left: Operand
    op: str
    pattern: Str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Known:
    left: Operand
    known: bool
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class DateWindow:
    """Dates against today: ``within 90 days`` (ahead), ``in last 30 days``, ``... ago``."""

    left: Operand
    op: str  # "within", "in last", "more than ago", "less than ago"
    duration: Duration
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Count:
    """``at least 5 page views on "/x*" in last 90 days``; ``no activity in last 180 days``."""

    op: str  # "at least", "at most", "no"
    n: int
    event: EventMatch
    window: Duration | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Did:
    """The short behaviour forms: ``clicked intro``, ``opened any email``, ``visited "/p*"``.

    ``target`` is a step name (clicked / opened), ``None`` for "any email", else a pattern.
    """

    verb: str  # clicked, opened, visited, downloaded, submitted, attended
    target: Name | Str | None
    window: Duration | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class LastEvent:
    """Recency: ``last email click more than 60 days ago``."""

    event: EventMatch
    more: bool
    duration: Duration
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class SegmentRef:
    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class GoalRef:
    """``goal``: the enclosing flow's goal condition holds."""

    span: Span = _span()


Condition = (
    And | Or | Not | Compare | InList | TextMatch | Known | DateWindow | Count | Did | LastEvent
    | SegmentRef | GoalRef
)


# ------------------------------------------------------------------ shared definitions


@dataclass(frozen=True, slots=True)
class AttributeDecl:
    name: str
    type: str
    values: tuple[Operand, ...] | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Attributes:
    decls: tuple[AttributeDecl, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class EventDecl:
    words: tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Events:
    decls: tuple[EventDecl, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TierRule:
    """``2 to 99`` (between), ``500 and above`` (at least), ``below 2``, ``matches (...)``,
    ``in (...)``, ``otherwise``."""

    kind: str
    low: int | float | None = None
    high: int | float | None = None
    texts: tuple[str, ...] = ()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TierEntry:
    name: str
    rule: TierRule
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    source: str
    entries: tuple[TierEntry, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class EventPoints:
    points: int | float
    event: EventMatch
    window: Duration | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class WhenPoints:
    points: int | float
    condition: Condition
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ScoreOption:
    """``half-life 30 days``, ``window 365 days`` or ``at most 100``."""

    kind: str  # "half-life", "window", "cap"
    duration: Duration | None = None
    value: int | float | None = None
    span: Span = _span()


ScoreLine = EventPoints | WhenPoints | ScoreOption


@dataclass(frozen=True, slots=True)
class Score:
    name: str
    lines: tuple[ScoreLine, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class PriorityRule:
    rank: int
    condition: Condition | None  # None: otherwise
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Priority:
    name: str
    rules: tuple[PriorityRule, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class CapRule:
    count: int
    noun: str  # "emails" as written
    per: Duration
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class SendHours:
    start: str  # "09:00"
    end: str
    days: tuple[str, ...] = ()  # ("weekdays",), ("business", "days"), ...
    lead_zone: bool = False
    default_zone: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class NeverEmail:
    condition: Condition
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class PolicyFlag:
    """``require consent`` or ``skip public holidays``."""

    kind: str
    span: Span = _span()


PolicyLine = CapRule | SendHours | NeverEmail | PolicyFlag


@dataclass(frozen=True, slots=True)
class Policy:
    lines: tuple[PolicyLine, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    title: str | None
    condition: Condition
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TeamChannel:
    kind: str  # "email" or "webhook"
    address: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    title: str | None
    channels: tuple[TeamChannel, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class MergeRule:
    """``stage, owner: prefer crm over web_form then newest`` or ``title: newest wins``."""

    fields: tuple[str, ...]
    sources: tuple[str, ...]  # empty: newest wins
    then_newest: bool = False
    blank_overwrites: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Merge:
    rules: tuple[MergeRule, ...]
    span: Span = _span()


# ------------------------------------------------------------------ flows


@dataclass(frozen=True, slots=True)
class Schedule:
    """``every weekday at 09:30 "Asia/Tokyo"``, ``every 15 minutes``, ``cron "30 9 * * 1-5"``."""

    kind: str  # "every", "interval", "cron"
    days: tuple[str, ...] = ()
    times: tuple[str, ...] = ()
    interval: Duration | None = None
    cron: str | None = None
    zone: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class EnterWhen:
    condition: Condition
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class EnterOn:
    event: EventMatch
    condition: Condition | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ExitWhen:
    condition: Condition
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class GoalWhen:
    condition: Condition
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ReEnter:
    after: Duration | None  # None: never
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class FlowPriority:
    value: int
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class MoveStep:
    """``move "intro+1" to checkin`` or ``move "old_offer" to exit "offer withdrawn"``: where
    live enrollments go when a new version of the flow no longer has the step they wait at.

    ``old`` is the runtime's label of that step (``dsl.labels``); ``to`` a named step of this
    flow, or ``None`` when they leave the flow (with ``reason``, if given)."""

    old: str
    to: str | None
    reason: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Sender:
    owner: bool
    address: str | None = None  # fixed sender, or the fallback when the owner is unknown
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Send:
    """One template, or a series (``send next of (...)``) that remembers what each lead got."""

    name: str | None
    templates: tuple[str, ...]
    series: bool = False
    sender: Sender | None = None
    span: Span = _span()

    @property
    def step_name(self) -> str:
        if self.name is not None:
            return self.name
        # the template's file name, made a valid name so that `clicked case_study` can refer
        # to `send "case-study.html"`
        stem = self.templates[0].rsplit("/", 1)[-1].split(".", 1)[0]
        name = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in stem)
        return "send" if not name or name[0].isdigit() else name


@dataclass(frozen=True, slots=True)
class WaitFor:
    duration: Duration
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class WaitUntil:
    date: Operand
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class WaitEvent:
    """``wait until visited "/pricing*" or 3 days``: whichever comes first."""

    condition: Condition
    timeout: Duration
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Branch:
    condition: Condition
    steps: tuple[Step, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class If:
    branches: tuple[Branch, ...]  # if, then each "else if"
    otherwise: tuple[Step, ...] | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class SplitBranch:
    name: str
    percent: float
    steps: tuple[Step, ...] | None  # None: a holdout group that gets nothing
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Split:
    name: str
    branches: tuple[SplitBranch, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Repeat:
    every: Duration
    until: Condition | None
    max_times: int | None
    steps: tuple[Step, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class SetAttr:
    name: str
    value: Operand
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TagStep:
    add: bool
    tag: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Notify:
    """To the lead's owner, a team, or the owner falling back to a team."""

    owner: bool
    team: str | None
    template: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Handoff:
    team: str
    priority: str | None = None
    per_day: int | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ExitStep:
    reason: str | None = None
    span: Span = _span()


Step = (
    Send | WaitFor | WaitUntil | WaitEvent | If | Split | Repeat | SetAttr | TagStep | Notify
    | Handoff | ExitStep
)


@dataclass(frozen=True, slots=True)
class OnGoal:
    steps: tuple[Step, ...]
    span: Span = _span()


FlowItem = (
    Schedule | EnterWhen | EnterOn | ExitWhen | GoalWhen | ReEnter | FlowPriority | MoveStep
    | OnGoal | Step
)


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    title: str | None
    items: tuple[FlowItem, ...]
    span: Span = _span()

    def settings(self, kind: type) -> list:
        return [i for i in self.items if isinstance(i, kind)]

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(i for i in self.items if isinstance(i, Step))  # type: ignore[arg-type,misc]

    @property
    def on_goal(self) -> tuple[Step, ...]:
        return tuple(s for i in self.items if isinstance(i, OnGoal) for s in i.steps)


Definition = Attributes | Events | Tier | Score | Priority | Policy | Segment | Team | Merge
Item = Definition | Flow


@dataclass(frozen=True, slots=True)
class Module:
    """One flow file."""

    path: str
    items: tuple[Item, ...]
    span: Span = _span()
