"""Demo events: what each lead did over the two years before T (and what CRM imports say).

Event rows are tuples in :data:`EVENT_FIELDS` order, times as UTC epoch seconds, all before T.
The patterns the example flows look for are there on purpose: customers and leads quiet for
180+ days, visitors of past exhibitions back on the site, topic readers (5+ views under
``/topics/<topic>/`` in 90 days), pricing-page readers, white-paper downloads, seminars, stage
changes (some to ``recycle`` in the last days), and monthly newsletters with 10-20% opens and
1-3% clicks.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from engine.demo import vocab as V
from engine.demo.people import DAY, YEAR, Profile

EVENT_FIELDS = ("lead_id", "type", "occurred_at", "url", "link", "template", "campaign",
                "asset", "name", "form", "from_stage", "to_stage", "source")
SITE = "https://www.example.co.jp"
_TOPIC_PAGES = {k: tuple(f"/topics/{k}/{p}" for p in pages) for k, (_, pages) in V.TOPICS.items()}
_ALL_TOPIC_PAGES = tuple(p for pages in _TOPIC_PAGES.values() for p in pages)
_BROWSE = (V.GENERAL_PAGES * 6 + _ALL_TOPIC_PAGES + V.PRICING_PAGES + V.CASE_PAGES
           + V.COMPARE_PAGES)
_STAGE_PATHS: dict[str | None, tuple[str, ...]] = {
    None: (), "lead": (), "mql": ("mql",), "sql": ("mql", "sql"),
    "opportunity": ("mql", "sql", "opportunity"),
    "negotiation": ("mql", "sql", "opportunity", "negotiation"),
    "customer": ("mql", "sql", "opportunity", "negotiation", "customer"),
    "recycle": ("mql", "sql", "recycle"), "dormant": ("mql", "dormant"),
    "churned": ("mql", "sql", "opportunity", "customer", "churned"),
}

Event = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Calendar:
    """What happened to everyone at fixed times: newsletters, seminars, exhibitions."""

    newsletters: tuple[tuple[int, str], ...]  # (sent at, "2026-10")
    seminars: tuple[tuple[int, str], ...]  # (held at, name)
    shows: tuple[tuple[int, str], ...]  # (held at, show code such as "JITW-2025-autumn")

    @classmethod
    def before(cls, at: int) -> Calendar:
        t = dt.datetime.fromtimestamp(at, dt.UTC)
        months = [(t.year * 12 + t.month - 1 - k) for k in range(25)]
        letters, seminars = [], []
        for m in reversed(months):  # the second Tuesday of the month, 10:00 in Tokyo
            year, month = divmod(m, 12)
            first = dt.datetime(year, month + 1, 1, 1, 0, tzinfo=dt.UTC)
            tuesday = first + dt.timedelta(days=(1 - first.weekday()) % 7 + 7)
            if at - 2 * YEAR <= tuesday.timestamp() < at:
                letters.append((int(tuesday.timestamp()), f"{year}-{month + 1:02d}"))
            topic = tuple(V.TOPICS)[m % len(V.TOPICS)]
            held = tuesday + dt.timedelta(days=9, hours=4)
            if at - 2 * YEAR <= held.timestamp() < at:
                seminars.append((int(held.timestamp()),
                                 f"seminar-{year}-{month + 1:02d}-{topic}"))
        shows = []
        # Badge scans come from the CRM, older than the web history: three years of shows.
        for year in range(t.year - 3, t.year + 1):
            for month, day, code in ((4, 9, "JITW-{y}-spring"), (7, 15, "BACKOFFICE-{y}"),
                                     (10, 23, "JITW-{y}-autumn")):
                held_at = dt.datetime(year, month, day, 2, 0, tzinfo=dt.UTC)
                if at - 3 * YEAR <= held_at.timestamp() < at:
                    shows.append((int(held_at.timestamp()), code.format(y=year)))
        return cls(tuple(letters), tuple(seminars), tuple(shows))


def events_for(rng: random.Random, p: Profile, at: int, cal: Calendar) -> list[Event]:
    """Every event of one lead, in no particular order."""
    out: list[Event] = []
    add = out.append
    r = rng.random
    lid = p.lead_id
    start = max(p.created_at, at - 2 * YEAR)
    end = min(p.activity_end, at - 60)

    def view(t: int, url: str) -> None:
        add((lid, "page_view", t, url, None, None, None, None, None, None, None, None,
             "tracking"))

    # Visits: a few pages each, spread over the active period; the last one ends it.
    if p.sessions and end >= start:
        times = [start + int(r() * (end - start)) for _ in range(p.sessions - 1)] + [end]
        for t in times:
            for k in range(1 + int(rng.expovariate(1 / 1.6))):
                url = rng.choice(V.PRICING_PAGES) if p.pricing_reader and r() < 0.2 else \
                    rng.choice(_BROWSE)
                view(t - k * 97, url)
            if r() < 0.08:
                add((lid, "download", t + 30, None, None, None, None,
                     rng.choice(V.WHITE_PAPERS + V.CASE_STUDIES), None, None, None, None,
                     "tracking"))
            if r() < 0.02:
                add((lid, "form_submit", t + 45, "/contact", None, None, None, None, None,
                     rng.choice(V.FORMS_MINOR), None, None, "tracking"))
    # Topic readers: 5-12 pages under one topic within the last 90 days.
    if p.topic and end > at - 80 * DAY:
        first = max(start, at - 88 * DAY)
        for _ in range(rng.randint(5, 12)):
            view(first + int(r() * (end - first)), rng.choice(_TOPIC_PAGES[p.topic]))
    if p.hot and end >= start:
        _burst(rng, p, at, out)
    # Monthly newsletter: opened only while the person is active.
    if p.consent:
        for sent, month in cal.newsletters:
            if sent < p.created_at or r() >= 0.4:
                continue
            campaign, template = f"newsletter-{month}", f"newsletter/{month}.html"
            add((lid, "email_sent", sent, None, None, template, campaign, None, None, None,
                 None, None, "import"))
            if sent <= end and r() < 0.25:
                opened = sent + int(rng.expovariate(1 / 7200))
                add((lid, "email_open", opened, None, None, template, campaign, None, None,
                     None, None, None, "tracking"))
                if r() < 0.12:
                    page = rng.choice(_ALL_TOPIC_PAGES + V.CASE_PAGES + V.PRICING_PAGES)
                    add((lid, "email_click", opened + 20, None, SITE + page, template, campaign,
                         None, None, None, None, None, "tracking"))
                    view(opened + 25, page)
    # Seminars and exhibitions (offline facts from the CRM), only while active.
    if r() < 0.1:
        held, name = rng.choice(cal.seminars)
        if start <= held <= end:
            add((lid, "seminar", held, None, None, None, None, None, name, None, None, None,
                 "import"))
    if r() < 0.25:
        shows = [s for s in cal.shows if p.created_at - 30 * DAY <= s[0] <= end]
        if shows:  # Japan IT Week is the big one
            held, code = rng.choices(shows, [2 if s[1][:4] == "JITW" else 1 for s in shows])[0]
            add((lid, "exhibition", held + rng.randint(0, 6 * 3600), None, None, None, None,
                 None, code, None, None, None, "import"))
    _crm(rng, p, at, out)
    return out


def _burst(rng: random.Random, p: Profile, at: int, out: list[Event]) -> None:
    """A hot lead: buying signals in the last two weeks (pricing, case studies, a white paper)."""
    lid, r = p.lead_id, rng.random
    first = max(p.created_at, at - 14 * DAY)
    span = max(60, at - 60 - first)

    def when() -> int:
        return first + int(r() * span)

    for _ in range(rng.randint(2, 5)):
        out.append((lid, "page_view", when(), rng.choice(V.PRICING_PAGES), None, None, None,
                    None, None, None, None, None, "tracking"))
    for _ in range(rng.randint(0, 2)):
        out.append((lid, "page_view", when(), rng.choice(V.CASE_PAGES + V.COMPARE_PAGES), None,
                    None, None, None, None, None, None, None, "tracking"))
    asset = rng.choice(V.WHITE_PAPERS) if r() < 0.7 else rng.choice(V.CASE_STUDIES)
    out.append((lid, "download", when(), None, None, None, None, asset, None, None, None, None,
                 "tracking"))
    if r() < 0.2:
        form = "contact" if r() < 0.5 else "demo-request"
        out.append((lid, "form_submit", when(), "/contact", None, None, None, None, None, form,
                    None, None, "tracking"))
    if r() < 0.1:
        out.append((lid, "trial_signup", when(), None, None, None, None, None, None, None, None,
                    None, "product"))


def _crm(rng: random.Random, p: Profile, at: int, out: list[Event]) -> None:
    """Stage changes along the funnel (the last one to the current stage), sales calls and
    unsubscribes: facts the CRM sync brings in."""
    lid, r = p.lead_id, rng.random
    path = _STAGE_PATHS[p.stage]
    if path:
        last = at - int(r() * max(DAY, at - p.created_at))
        if p.stage == "recycle":  # inside sales recycles leads every day: some very recently
            u = r()
            days = u * 2 if u < 0.15 else (2 + (u - 0.15) * 40 if u < 0.4 else 20 + r() * 600)
            last = max(p.created_at + len(path) * 3600, at - int(days * DAY) - 60)
        last = min(last, at - 60)
        times = sorted(p.created_at + int(r() * (last - p.created_at)) for _ in path[:-1])
        previous = "lead"
        for t, stage in zip([*times, last], path, strict=True):
            out.append((lid, "stage_change", t, None, None, None, None, None, None, None,
                        previous, stage, "crm"))
            previous = stage
    if p.stage in ("sql", "opportunity", "negotiation", "customer", "recycle"):
        for _ in range(rng.randint(0, 3)):
            t = p.created_at + int(r() * (at - 60 - p.created_at))
            out.append((lid, "sales_call", t, None, None, None, None, None, None, None, None,
                        None, "crm"))
    if p.consent is False and r() < 0.5:
        since = max(p.created_at, at - 2 * YEAR)
        t = since + int(r() * (at - 60 - since))
        out.append((lid, "unsubscribe", t, None, None, None, None, None, None, None, None, None,
                    "tracking"))
