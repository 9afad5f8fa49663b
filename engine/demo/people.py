"""Demo companies and leads: deterministic rows from a seed, no database involved.

A lead is a plain tuple in :data:`LEAD_FIELDS` order (times as UTC epoch seconds, ``custom`` a
dict), so the same generator feeds ``engine demo`` (through SQLAlchemy) and the million-lead
benchmark loader (COPY / executemany). Beside each lead comes a :class:`Profile`: how the person
behaves, which :mod:`engine.demo.behaviour` turns into events. Nothing here is stored as-is.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from engine.demo import vocab as V

DAY = 86_400
YEAR = 365 * DAY

LEAD_FIELDS = ("id", "email", "first_name", "last_name", "company", "employees", "industry",
               "service_category", "title", "department", "stage", "owner", "country",
               "time_zone", "language", "phone", "consent", "created_at", "updated_at", "custom",
               "legal_basis")

_INDUSTRY_NAMES = tuple(V.INDUSTRIES)
_INDUSTRY_WEIGHTS = tuple(w for w, _, _ in V.INDUSTRIES.values())
_FIT_INDUSTRIES = frozenset({"製造業", "メーカー", "Manufacturing", "商社", "卸売業", "Trading"})

# How likely a lead of each stage went quiet (no activity for 180+ days).
_DORMANT_BY_STAGE = {"lead": 0.45, "mql": 0.1, "sql": 0.05, "opportunity": 0.03,
                     "negotiation": 0.02, "customer": 0.55, "recycle": 0.3, "dormant": 0.9,
                     "churned": 0.85, None: 0.5}


@dataclass(frozen=True, slots=True)
class Company:
    name: str
    industry: str
    employees: int | None
    service_category: str | None
    country: str
    overseas_travel: str | None
    software: tuple[str, str] | None  # (product, hosting)


@dataclass(frozen=True, slots=True)
class Profile:
    """How a lead behaves (input of :mod:`engine.demo.behaviour`)."""

    lead_id: int
    stage: str | None
    created_at: int
    consent: bool | None
    dormant: bool  # nothing the person did in the last 180+ days
    activity_end: int  # the time of the last activity (for a dormant lead, 180+ days ago)
    sessions: int  # visits to the site over the two years
    topic: str | None  # a topic the lead reads a lot about recently
    pricing_reader: bool  # looks at pricing now and then
    hot: bool  # a burst of buying signals in the last two weeks


def weighted(rng: random.Random, pairs: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def companies(seed: int, count: int) -> list[Company]:
    """The pool of companies leads work at (several leads may share one, as in a real CRM)."""
    rng = random.Random(f"{seed}/companies")
    pool = []
    for _ in range(count):
        industry = rng.choices(_INDUSTRY_NAMES, _INDUSTRY_WEIGHTS)[0]
        _, ja_words, en_words = V.INDUSTRIES[industry]
        country = weighted(rng, tuple((c[0], c[1]) for c in V.COUNTRIES))
        if country == "JP" and rng.random() < 0.9:
            stem, word = rng.choice(V.JA_STEMS), rng.choice(ja_words)
            name = f"株式会社{stem}{word}" if rng.random() < 0.6 else f"{stem}{word}株式会社"
            if rng.random() < 0.03:
                name = f"有限会社{stem}{word}"
        else:
            stem, word = rng.choice(V.EN_STEMS), rng.choice(en_words)
            suffix = {"JP": "Co., Ltd.", "US": "Inc.", "SG": "Pte. Ltd."}[country]
            name = f"{stem} {word} {suffix}"
        employees = None
        if rng.random() >= V.EMPLOYEES_UNKNOWN:
            _, low, high = rng.choices(V.EMPLOYEE_BANDS, [b[0] for b in V.EMPLOYEE_BANDS])[0]
            employees = low if low == high else int(low * (high / low) ** rng.random())
        categories = V.SERVICE_CATEGORIES.get(industry)
        service = rng.choice(categories) if categories and rng.random() < 0.7 else None
        travel_weights = (2, 4, 4) if industry in _FIT_INDUSTRIES else (6, 3, 1)
        travel = (rng.choices(("none", "occasional", "frequent"), travel_weights)[0]
                  if rng.random() < 0.6 else None)
        software = None
        if rng.random() < 0.6:
            product, hosting, _ = rng.choices(V.SOFTWARE, [s[2] for s in V.SOFTWARE])[0]
            software = (product, hosting)
        pool.append(Company(name, industry, employees, service, country, travel, software))
    return pool


class LeadMaker:
    """Makes lead ``i`` (1-based) of a data set: ``make(rng, i)`` -> (row tuple, profile)."""

    def __init__(self, seed: int, at: int, pool: list[Company]) -> None:
        self.seed, self.at, self.pool = seed, at, pool
        self.today = dt.datetime.fromtimestamp(at, dt.UTC).date()

    def make(self, rng: random.Random, i: int,
             basis_rng: random.Random) -> tuple[tuple[Any, ...], Profile]:
        """``basis_rng`` draws the legal basis apart from ``rng``, so that adding the attribute
        left every other value of earlier data sets as it was."""
        r = rng.random
        at = self.at
        co = self.pool[int(len(self.pool) * r() ** 1.6)]  # some companies have many contacts
        if co.country == "JP" and r() < 0.9:
            (family, family_r), (given, given_r) = rng.choice(V.JA_FAMILY), rng.choice(V.JA_GIVEN)
            language = rng.choice(V.COUNTRIES[0][3])
            title = weighted(rng, V.TITLES_JA) if r() < 0.9 else weighted(rng, V.TITLES_EN)
            dept = weighted(rng, V.DEPARTMENTS_JA)
            domain = "example.co.jp" if r() < 0.7 else "example.jp"
        else:
            family, given = rng.choice(V.EN_FAMILY), rng.choice(V.EN_GIVEN)
            family_r, given_r = family.lower(), given.lower().replace(" ", "")
            language = "en" if co.country != "SG" else rng.choice(V.COUNTRIES[2][3])
            title, dept = weighted(rng, V.TITLES_EN), weighted(rng, V.DEPARTMENTS_EN)
            domain = "example.com"
        email = f"{given_r}.{family_r}.{i}@{domain}"
        title = None if r() < V.TITLE_UNKNOWN else title
        dept = None if r() < V.DEPARTMENT_UNKNOWN else dept
        country_info = next(c for c in V.COUNTRIES if c[0] == co.country)
        time_zone = rng.choice(country_info[2]) if r() < 0.9 else None
        stage = None if r() < V.STAGE_UNKNOWN else weighted(rng, V.STAGES)
        phone = None if r() < 0.3 else _phone(rng, co.country)
        consent = True if r() < 0.86 else (False if r() < 0.6 else None)

        # New leads keep arriving: 3% in the last two weeks (buyer_journey.flow's audience).
        if stage == "lead" and r() < 0.08:
            created = at - int(r() * 14 * DAY) - 3600
        else:
            created = at - int((30 + r() * 1400) * DAY)
        owner = None
        if stage not in (None, "lead") or r() < 0.15:
            owner = rng.choice(V.OWNERS) if r() < 0.9 else None
        custom = self._custom(rng, co, stage)
        dormant = r() < _DORMANT_BY_STAGE[stage]
        start = max(created, at - 2 * YEAR)
        if dormant:
            quiet = at - 181 * DAY  # the last thing they did is older than this
            end = start + int(r() * (quiet - start)) if start <= quiet else quiet - DAY
        else:
            end = max(start, at - int(rng.expovariate(1 / 20) * DAY) - int(r() * DAY))
        active_prospect = not dormant and stage in (None, "lead", "recycle", "dormant", "mql")
        fit_bonus = 2.0 if co.industry in _FIT_INDUSTRIES else 1.0
        profile = Profile(
            lead_id=i, stage=stage, created_at=created, consent=consent, dormant=dormant,
            activity_end=end, sessions=int(rng.expovariate(1 / 3.8)) + (0 if dormant else 1),
            topic=(rng.choice(tuple(V.TOPICS)) if not dormant and r() < 0.12 else None),
            pricing_reader=r() < 0.15,
            hot=active_prospect and r() < 0.07 * fit_bonus)
        updated = min(at, created + int(r() * (at - created)))
        row = (i, email, given, family, co.name, co.employees, co.industry, co.service_category,
               title, dept, stage, owner, co.country, time_zone, language, phone, consent,
               created, updated, custom, _legal_basis(basis_rng, co.country, consent))
        return row, profile

    def _custom(self, rng: random.Random, co: Company, stage: str | None) -> dict[str, Any]:
        r = rng.random
        custom: dict[str, Any] = {}
        today = self.today
        # Renewal dates: sales hears them from customers, and from some prospects on the phone.
        if r() < (0.8 if stage == "customer" else 0.12):
            custom["renewal_date"] = (today + dt.timedelta(days=rng.randint(-60, 3 * 365)))\
                .isoformat()
        if co.software is not None and r() < 0.8:
            custom["current_software"], custom["software_hosting"] = co.software
        elif r() < 0.05:
            custom["software_hosting"] = "none"
        if r() < 0.2:
            days = rng.randint(20, 6 * 365)
            custom["expense_system_installed_at"] = (today - dt.timedelta(days=days)).isoformat()
        if co.overseas_travel is not None:
            custom["overseas_travel"] = co.overseas_travel
        return custom


def _legal_basis(rng: random.Random, country: str, consent: bool | None) -> str | None:
    """How consent to marketing mail was obtained (Japan's 特定電子メール法 wants a record).
    Some Japanese leads lack one, as in real lists: imports report them (T-I7)."""
    if consent is not True:
        return "名刺交換" if rng.random() < 0.2 else None
    if rng.random() < 0.06:
        return None
    if country != "JP":
        return "web form opt-in"
    return weighted(rng, V.LEGAL_BASES)


def _phone(rng: random.Random, country: str) -> str:
    n = rng.randint
    if country == "US":
        return f"+1 415-555-{n(100, 199):04d}"  # 555-01xx: numbers reserved for fiction
    if country == "SG":
        return f"+65 0{n(100, 999)} {n(1000, 9999)}"  # no Singapore number starts with 0
    # No Japanese subscriber number starts with 0 after the area code: none of these is real.
    area = rng.choice(("03", "06", "052", "045", "092", "011", "090", "080"))
    return f"{area}-0{n(100, 999)}-{n(1000, 9999)}"
