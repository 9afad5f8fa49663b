"""Hand-written SQL for the audience benchmark: what an expert would write for each audience.

One entry per audience (each example flow's entry, PERFORMANCE.md's Q1-Q4), each in one or more
shapes per dialect (``leads-first``: filter leads, then correlated lookups on the index
``events(lead_id, type, occurred_at)``; ``events-first``: aggregate the window's events, then
join). The benchmark runs every shape and compares the engine with the fastest. Each query means
exactly what docs/semantics.md says for its condition on this data: windows T - N days < time
<= T, unknown values never match, globs case-insensitive; custom attributes are read without the
engine's type guards (the demo data is clean), which a hand-writer would skip too; scores leave
out events flagged ``machine`` (automated clicks and opens), and every test of clicks or opens
the flagged ones, as the engine's do.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.store.schema import events

MACHINE = "machine" in events.c  # events.machine, from migration 0004

ACTIVITY = "('email_open', 'email_click', 'page_view', 'download', 'form_submit', 'seminar', " \
    "'exhibition')"
Q_SEGMENTS = {  # PERFORMANCE.md's queries, in the flow language (for the engine's side)
    "Q1": 'employees >= 500 and industry in ("製造業", "商社", "情報通信業")',
    "Q2": 'q1 and at least 5 page views on "/pricing*" in last 90 days',
    "Q3": 'stage is "customer" and no activity in last 180 days',
    "Q4": 'q2 and no email click in last 180 days',
}


def params(dialect: str, at: dt.datetime) -> dict[str, Any]:
    """Bound parameters: instants and dates derived from T, in each dialect's stored form."""
    today = at.astimezone(dt.UTC).date()

    def day(days: int) -> dt.datetime:
        return dt.datetime.combine(today + dt.timedelta(days=days), dt.time(), dt.UTC)

    values: dict[str, Any] = {
        "at": at, "day_m30": day(-30), "day_m14": day(-14), "day_p1": day(1),
        "today": today, "today_p90": today + dt.timedelta(days=90),
        "today_m365": today - dt.timedelta(days=365),
    }
    for n in (1, 30, 90, 180):
        values[f"since_{n}d"] = at - dt.timedelta(days=n)
    if dialect == "sqlite":  # the store's text forms (engine/store/types.py)
        return {k: (v.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                    if isinstance(v, dt.datetime) else v.isoformat()) for k, v in values.items()}
    return values


class Sql:
    """The few places where SQLite and PostgreSQL are written differently."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"

    def like(self, column: str, pattern: str) -> str:  # ASCII case-insensitive, like the engine
        return f"{column} {'ILIKE' if self.pg else 'LIKE'} '{pattern}'"

    def any_like(self, column: str, *patterns: str) -> str:
        return "(" + " OR ".join(self.like(column, p) for p in patterns) + ")"

    def text(self, name: str) -> str:
        return f"(l.custom ->> '{name}')" if self.pg else f"json_extract(l.custom, '$.{name}')"

    def date(self, name: str) -> str:
        return f"CAST(l.custom ->> '{name}' AS date)" if self.pg else self.text(name)

    def decay(self, half_life_days: int) -> str:
        if self.pg:
            # EXTRACT gives numeric, whose power() is ~20x slower than float8's: cast first.
            age = ("CAST(EXTRACT(EPOCH FROM (CAST(:at AS timestamptz) - e.occurred_at)) AS "
                   "float8) / 86400.0")
        else:
            age = "(julianday(:at) - julianday(e.occurred_at))"
        return f"power(0.5, {age} / {half_life_days}.0)"

    def count_if(self, test: str) -> str:
        return f"count(*) FILTER (WHERE {test})" if self.pg else f"sum({test})"


def window(days: int, e: str = "e") -> str:
    return f"{e}.occurred_at > :since_{days}d AND {e}.occurred_at <= :at"


def queries(dialect: str) -> dict[str, dict[str, str]]:
    """audience -> shape -> SQL returning the ids in order."""
    s = Sql(dialect)
    in_market = "(l.employees IS NULL OR l.employees >= 2)"
    renewal, installed = s.date("renewal_date"), s.date("expense_system_installed_at")
    not_parked = (f"({renewal} IS NULL OR {renewal} <= :today_p90) AND ({installed} IS NULL OR "
                  f"{installed} NOT BETWEEN :today_m365 AND :today)")
    prospect = "(l.stage IN ('lead', 'recycle', 'dormant') OR l.stage IS NULL)"
    nurturable = "(l.stage IN ('lead', 'dormant') OR l.stage IS NULL)"
    jitw = (f"e.type IN ('seminar', 'exhibition') AND e.occurred_at <= :at AND "
            f"{s.like('e.name', 'JITW-2024%')}")
    viewed_30d = f"e.type = 'page_view' AND {window(30)}"
    returner = (f"EXISTS (SELECT 1 FROM events e WHERE e.lead_id = l.id AND {jitw}) AND "
                f"EXISTS (SELECT 1 FROM events e WHERE e.lead_id = l.id AND {viewed_30d})")
    q1 = "l.employees >= 500 AND l.industry IN ('製造業', '商社', '情報通信業')"
    pricing = f"e.type = 'page_view' AND {window(90)} AND {s.like('e.url', '/pricing%')}"
    q2_lf = f"{q1} AND (SELECT count(*) FROM events e WHERE e.lead_id = l.id AND {pricing}) >= 5"
    q2_ef = (f"l.id IN (SELECT e.lead_id FROM events e WHERE {pricing} GROUP BY e.lead_id "
             f"HAVING count(*) >= 5) AND {q1}")
    no_click = (f"NOT EXISTS (SELECT 1 FROM events e WHERE e.lead_id = l.id AND "
                f"e.type = 'email_click' AND {window(180)} AND e.machine IS NOT TRUE)")
    dormant = (f"NOT EXISTS (SELECT 1 FROM events e WHERE e.lead_id = l.id AND e.type IN "
               f"{ACTIVITY} AND {window(180)} AND (e.type NOT IN ('email_click', "
               "'email_open') OR e.machine IS NOT TRUE))")
    topics = ("/topics/invoice/%", "/topics/expense/%", "/topics/travel/%")
    topic_of = "CASE " + " ".join(
        f"WHEN {s.like('e.url', t)} THEN {i}" for i, t in enumerate(topics)) + " END"
    readers_lf = (f"EXISTS (SELECT 1 FROM events e WHERE e.lead_id = l.id AND e.type = "
                  f"'page_view' AND {window(90)} AND {s.like('e.url', '/topics/%')} "
                  f"GROUP BY {topic_of} HAVING {topic_of} IS NOT NULL AND count(*) >= 5)")
    having = " OR ".join(f"{s.count_if(s.like('e.url', t))} >= 5" for t in topics)
    readers_ef = (f"l.id IN (SELECT e.lead_id FROM events e WHERE e.type = 'page_view' AND "
                  f"{window(90)} AND {s.like('e.url', '/topics/%')} GROUP BY e.lead_id "
                  f"HAVING {having})")
    topic_rest = (f"{in_market} AND {not_parked} AND NOT ({returner}) AND {nurturable} AND "
                  f"l.created_at < :day_m30")
    trading_or_making = s.any_like("l.industry", "%商社%", "%卸売%", "%trading%", "%wholesale%",
                                   "%製造%", "%メーカー%", "%manufactur%")
    storing_or_banking = s.any_like("l.industry", "%倉庫%", "%物流%", "%warehous%", "%logistics%",
                                    "%銀行%", "%信用金庫%", "%bank%")
    finance = s.any_like("l.department", "%経理%", "%財務%", "%会計%", "%finance%", "%accounting%")
    travel = s.text("overseas_travel")
    fit = (f"(CASE WHEN {trading_or_making} THEN 30 WHEN {storing_or_banking} THEN -20 ELSE 0 END"
           f" + CASE {travel} WHEN 'frequent' THEN 20 WHEN 'occasional' THEN 10 ELSE 0 END"
           " + CASE WHEN l.employees >= 500 THEN 25 WHEN l.employees >= 100 THEN 15 ELSE 0 END"
           f" + CASE WHEN {finance} THEN 10 ELSE 0 END"
           f" + CASE WHEN {installed} BETWEEN :today_m365 AND :today THEN -60 ELSE 0 END)")
    points = (f"CASE e.type WHEN 'email_click' THEN 3 WHEN 'page_view' THEN CASE WHEN "
              f"{s.like('e.url', '/pricing%')} THEN 10 WHEN {s.like('e.url', '/case-studies/%')} "
              f"THEN 5 ELSE 0 END WHEN 'download' THEN CASE WHEN {s.like('e.asset', 'wp-%')} "
              "THEN 15 ELSE 0 END WHEN 'seminar' THEN 20 WHEN 'exhibition' THEN 10 "
              "WHEN 'form_submit' THEN CASE WHEN e.form = 'contact' THEN 40 ELSE 0 END "
              "WHEN 'trial_signup' THEN 30 ELSE 0 END")
    scored = ("e.type IN ('email_click', 'page_view', 'download', 'seminar', 'exhibition', "
              f"'form_submit', 'trial_signup') AND {window(180)}")
    if MACHINE:  # scores skip what the tracking server flagged as automated
        scored += " AND e.machine IS NOT TRUE"
    cloud = f"CASE WHEN {s.text('software_hosting')} = 'cloud' THEN 15 ELSE 0 END"
    interest = f"sum({points} * {s.decay(30)})"
    mql_leads = f"{prospect} AND {in_market} AND {not_parked} AND {fit} >= 50"

    def ids(where: str, source: str = "leads l") -> str:
        return f"SELECT l.id FROM {source} WHERE {where} ORDER BY l.id"

    return {
        "buyer_journey": {"leads": ids(f"l.stage = 'lead' AND l.created_at >= :day_m14 AND "
                                       f"l.created_at < :day_p1 AND {in_market} AND "
                                       f"{not_parked}")},
        "exhibition_followup": {
            "events-first": ids(f"l.id IN (SELECT e.lead_id FROM events e WHERE {jitw}) AND "
                                f"EXISTS (SELECT 1 FROM events e WHERE e.lead_id = l.id AND "
                                f"{viewed_30d}) AND {in_market} AND {not_parked} AND "
                                f"{nurturable} AND l.created_at < :day_m30"),
            "leads-first": ids(f"{nurturable} AND l.created_at < :day_m30 AND {in_market} AND "
                               f"{not_parked} AND {returner}")},
        "recycle_nurture": {"events-first": ids(
            f"l.id IN (SELECT e.lead_id FROM events e WHERE e.type = 'stage_change' AND "
            f"{window(1)} AND e.to_stage = 'recycle') AND {not_parked}")},
        "renewal_timing": {"leads": ids(f"{prospect} AND {in_market} AND {renewal} > "
                                        ":today_p90")},
        "revive_dormant": {"leads-first": ids(f"l.stage = 'customer' AND {in_market} AND "
                                              f"{dormant}")},
        "topic_interest": {"leads-first": ids(f"{readers_lf} AND {topic_rest}"),
                           "events-first": ids(f"{readers_ef} AND {topic_rest}")},
        "two_axis_mql": {
            "leads-first": ids(f"{mql_leads} AND coalesce((SELECT {interest} FROM events e "
                               f"WHERE e.lead_id = l.id AND {scored}), 0) + {cloud} >= 20"),
            "events-first": ids(
                f"{mql_leads} AND i.points + {cloud} >= 20",
                f"leads l JOIN (SELECT e.lead_id, {interest} AS points FROM events e WHERE "
                f"{scored} GROUP BY e.lead_id) i ON i.lead_id = l.id")},
        "Q1": {"leads": ids(q1)},
        "Q2": {"leads-first": ids(q2_lf), "events-first": ids(q2_ef)},
        "Q3": {"leads-first": ids(f"l.stage = 'customer' AND {dormant}")},
        "Q4": {"leads-first": ids(f"{q2_lf} AND {no_click}"),
               "events-first": ids(f"{q2_ef} AND {no_click}")},
    }
