"""The shape of shared definitions: tiers, priorities, scores and merge rules.

E0405, E0408-E0415 and W0105-W0109. Tiers are read top to bottom: numbers fall into ranges,
texts into patterns, and `otherwise` takes what is left, so it must come last.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import isinf
from typing import TYPE_CHECKING

from dsl import ast as A
from dsl import symbols
from dsl.checks.memo import per_folder
from dsl.checks.structure import head
from dsl.diagnostics import Diagnostic, error, warning
from dsl.formatter import duration, quote
from dsl.logic.atoms import HUGE, rule_interval, rule_words
from dsl.logic.facts import num
from dsl.logic.sets import Interval, describe_interval

if TYPE_CHECKING:
    from dsl.check import Context

NUMERIC = ("between", "at least", "below")
# A duration's least and greatest length in days.
DAY_RANGE = {"minute": (1 / 1440, 1 / 1440), "hour": (1 / 24, 1 / 24), "day": (1, 1),
             "week": (7, 7), "month": (28, 31), "year": (365, 366)}


def word_at(span: A.Span, skip: int, word: str) -> A.Span:
    """``word``, ``skip`` characters into a line (single spaces, as `engine fmt` writes them)."""
    return A.Span(span.file, span.line, span.column + skip, span.line,
                  span.column + skip + max(len(word), 1))


def check_shared(modules: Sequence[A.Module], ctx: Context) -> list[Diagnostic]:
    table = per_folder(modules, "symbols", symbols.build)
    out: list[Diagnostic] = []
    merge_fields: dict[str, A.MergeRule] = {}
    for m in modules:
        for item in m.items:
            if isinstance(item, A.Tier):
                # rules that do not fit a typed attribute are the type checker's (E0308)
                typed = (table.kind_of(item.source) == symbols.ATTRIBUTE
                         and table.type_of(item.source) in ("text", "number"))
                out.extend(_tier(item, report_mix=not typed))
            elif isinstance(item, A.Priority):
                out.extend(_priority(item))
            elif isinstance(item, A.Score):
                out.extend(_score(item))
            elif isinstance(item, A.Merge):
                for rule in item.rules:
                    out.extend(_merge_rule(rule, merge_fields))
    return out


# ---------------------------------------------------------------- tiers


def _tier(t: A.Tier, report_mix: bool = True) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: dict[str, A.TierEntry] = {}
    for e in t.entries:
        if e.name in seen:
            out.append(error("E0411", f"tier `{t.name}` already has a category `{e.name}`",
                             head(e.span, len(e.name)), "give each line its own category, or put "
                             "all its patterns on one line", f"the first `{e.name}` is on line "
                             f"{seen[e.name].span.line}"))
        seen.setdefault(e.name, e)
    for k, e in enumerate(t.entries[:-1]):
        if e.rule.kind == "otherwise":
            later = [x.span.line for x in t.entries[k + 1:] if x.rule.kind == "otherwise"]
            out.append(_otherwise_not_last(e.rule.span, t.entries[k + 1].span.line, later))
    rules = [e for e in t.entries if e.rule.kind != "otherwise"]
    if not rules:
        return out
    numeric = rules[0].rule.kind in NUMERIC
    odd = next((e for e in rules if (e.rule.kind in NUMERIC) != numeric), None)
    if odd is not None and not report_mix:
        return out
    if odd is not None:
        what = "number range" if numeric else "text pattern"
        out.append(error("E0410", "this tier mixes number ranges and text patterns",
                         odd.rule.span, "a tier sorts one attribute: use ranges for a number, "
                         "`matches` or `in` for a text", f"`{rules[0].name}` on line "
                         f"{rules[0].span.line} is a {what}"))
        return out
    if numeric:
        out.extend(_ranges(t, rules))
    else:
        out.extend(_patterns(rules))
    return out


def _otherwise_not_last(span: A.Span, next_line: int, again: list[int]) -> Diagnostic:
    if again:
        return error("E0409", "`otherwise` can appear only once, as the last line", span,
                     "keep one `otherwise`, at the end", f"line {again[0]} is another `otherwise`")
    return error("E0409", "`otherwise` must be the last line", span,
                 "move it to the end: it takes every lead, so the lines after it are never used",
                 f"line {next_line} comes after it")


def _ranges(t: A.Tier, rules: list[A.TierEntry]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    valid: list[tuple[A.TierEntry, Interval]] = []
    for e in rules:
        r = e.rule
        if r.kind == "between" and r.low is not None and r.high is not None and r.low > r.high:
            out.append(error("E0408", f"this range is empty: {num(r.low)} is more than "
                             f"{num(r.high)}", r.span, "write the smaller number first: "
                             f"`{num(r.high)} to {num(r.low)}`"))
            continue
        valid.append((e, rule_interval(r)))
    for j, (b, ib) in enumerate(valid):
        for a, ia in valid[:j]:
            common = ia.intersect(ib)
            if not common.is_empty():
                out.append(warning(
                    "W0105", f"`{b.name}` ({rule_words(b.rule)}) overlaps `{a.name}` "
                    f"({rule_words(a.rule)}): both cover {describe_interval(common)}",
                    b.rule.span, "make the ranges meet without overlapping: with whole "
                    "numbers, `2 to 99` is followed by `100 to 499`",
                    f"`{a.name}` is on line {a.span.line}"))
                break
    if len(valid) == len(rules) and not any(e.rule.kind == "otherwise" for e in t.entries):
        out.extend(_gaps(valid))  # (an empty range is reported first: fixing it may fill a gap)
    return out


def _gaps(valid: list[tuple[A.TierEntry, Interval]]) -> list[Diagnostic]:
    """Numbers between consecutive ranges that no range covers; whole numbers when every bound
    is whole (``2 to 99`` then ``100 to 499`` leaves nothing out)."""
    out: list[Diagnostic] = []
    ordered = sorted(valid, key=lambda p: (p[1].lo, not p[1].lo_closed))
    whole = all(float(x).is_integer() for _, i in valid for x in (i.lo, i.hi) if not isinf(x))
    for k in range(1, len(ordered)):
        prev_entry, prev = max(ordered[:k], key=lambda p: (p[1].hi, p[1].hi_closed))
        entry, cur = ordered[k]
        if whole:
            last = prev.hi if prev.hi_closed else prev.hi - 1
            first = cur.lo if cur.lo_closed else cur.lo + 1
            missing = Interval(last + 1, first - 1)
            fix = (f"start `{entry.name}` at {num(last + 1)}" if entry.rule.kind != "below"
                   else f"end `{prev_entry.name}` at {num(first - 1)}")
        else:
            missing = Interval(prev.hi, cur.lo, not prev.hi_closed, not cur.lo_closed)
            fix = f"make `{entry.name}` start where `{prev_entry.name}` ends"
        if missing.is_empty():
            continue
        out.append(warning(
            "W0106", f"no category covers {describe_interval(missing)}: it falls between "
            f"`{prev_entry.name}` and `{entry.name}`", entry.rule.span,
            f"{fix}, or add a last line such as `other otherwise`",
            f"`{prev_entry.name}` is on line {prev_entry.span.line}"))
    return out


def _patterns(rules: list[A.TierEntry]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    owner: dict[str, A.TierEntry] = {}
    for e in rules:
        for text in dict.fromkeys(e.rule.texts):
            first = owner.setdefault(text, e)
            if first.name != e.name:
                out.append(warning(
                    "W0107", f"the pattern {quote(text)} is under both `{first.name}` and "
                    f"`{e.name}`", e.rule.span, "remove it from one of them; a lead it matches "
                    "gets only one category", f"`{first.name}` is on line {first.span.line}"))
    return out


# ---------------------------------------------------------------- priorities


def _priority(p: A.Priority) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for k, r in enumerate(p.rules):
        if r.rank != k + 1:
            out.append(error("E0412", f"priority ranks go 1, 2, 3, ... in order: this line "
                             f"should be {k + 1}, not {r.rank}", head(r.span, len(str(r.rank))),
                             f"renumber it `{k + 1}:` (and the lines after it)"))
            break
    for k, r in enumerate(p.rules[:-1]):
        if r.condition is None:
            where = word_at(r.span, len(str(r.rank)) + 2, "otherwise")
            later = [x.span.line for x in p.rules[k + 1:] if x.condition is None]
            out.append(_otherwise_not_last(where, p.rules[k + 1].span.line, later))
    if all(r.condition is not None for r in p.rules):
        out.append(warning("W0108", f"leads that match no rule of priority `{p.name}` are never "
                           "handed off", word_at(p.span, len("priority "), p.name),
                           f"add a last line `{len(p.rules) + 1}: otherwise` to hand them off "
                           "after the others"))
    return out


# ---------------------------------------------------------------- scores


def _score(s: A.Score) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    firsts: dict[str, A.ScoreOption] = {}
    words = {"half-life": "half-life", "window": "window", "cap": "at most"}
    for line in s.lines:
        if not isinstance(line, A.ScoreOption):
            continue
        first = firsts.setdefault(line.kind, line)
        if first is not line:
            w = words.get(line.kind, line.kind)
            out.append(error("E0405", f"this score already has a `{w}` line",
                             head(line.span, len(w)), f"keep one `{w}` line",
                             f"the first one is on line {first.span.line}"))
    if not any(isinstance(line, A.EventPoints | A.WhenPoints) for line in s.lines):
        out.append(error("E0413", f"score `{s.name}` has no point lines, so it is always 0",
                         word_at(s.span, len("score "), s.name), "add lines such as "
                         '`+5 per email click` or `+10 when industry is "trading"`'))
    hl, win = firsts.get("half-life"), firsts.get("window")
    if hl and win and hl.duration and win.duration:
        a, b = DAY_RANGE.get(hl.duration.unit), DAY_RANGE.get(win.duration.unit)
        hl_days = min(hl.duration.amount, HUGE) * a[0] if a else 0
        if a and b and hl_days > min(win.duration.amount, HUGE) * b[1]:
            out.append(warning(
                "W0109", f"the half-life ({duration(hl.duration)}) is longer than the window "
                f"({duration(win.duration)})", head(hl.span, len("half-life")),
                "shorten the half-life or lengthen the window",
                "points leave the window before they have lost half their value, so the "
                "half-life hardly matters"))
    return out


# ---------------------------------------------------------------- merge


def _merge_rule(rule: A.MergeRule, firsts: dict[str, A.MergeRule]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    skip = 0
    mine: set[str] = set()
    for f in rule.fields:
        first = firsts.setdefault(f, rule)
        if first is not rule or f in mine:
            where = "this line" if f in mine else f"line {first.span.line}"
            out.append(error("E0414", f"`{f}` already has a merge rule",
                             word_at(rule.span, skip, f),
                             f"keep one rule for `{f}`: remove it from one of the lines",
                             f"the first rule for `{f}` is on {where}"))
        mine.add(f)
        skip += len(f) + 2
    skip = len(", ".join(rule.fields)) + len(": prefer ")
    seen: set[str] = set()
    for src in rule.sources:
        if src in seen:
            out.append(error("E0415", f"`{src}` is listed twice in this `prefer` list",
                             word_at(rule.span, skip, src),
                             "list each source once, the most trusted first"))
        seen.add(src)
        skip += len(src) + len(" over ")
    return out
