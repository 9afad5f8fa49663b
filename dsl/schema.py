"""The closed vocabularies of the language: core attributes, event kinds, units, days.

These are language facts, not storage facts: the lead store maps them to columns (engine side).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

TYPES = ("text", "number", "date", "boolean")

# Core attributes every lead has (values may be unknown). Custom ones are declared in `attributes:`.
CORE_ATTRIBUTES: dict[str, str] = {
    "email": "text",
    "first_name": "text",
    "last_name": "text",
    "company": "text",
    "employees": "number",
    "industry": "text",
    "service_category": "text",
    "title": "text",
    "department": "text",
    "stage": "text",
    "owner": "text",
    "country": "text",
    "time_zone": "text",
    "language": "text",
    "phone": "text",
    "consent": "boolean",
    # how consent to marketing mail was obtained ("web form opt-in", "business card"...): the
    # record Japan's Act on Specified Electronic Mail requires
    "legal_basis": "text",
    "created_at": "date",
}

# Event kinds: canonical type -> the phrases that name it (singular and plural forms).
EVENT_KINDS: dict[str, tuple[str, ...]] = {
    "email_sent": ("email sent", "emails sent"),
    "email_open": ("email open", "email opens", "email opened", "open", "opens"),
    "email_click": ("email click", "email clicks", "email clicked", "click", "clicks"),
    "page_view": ("page view", "page views", "visit", "visits"),
    "download": ("download", "downloads"),
    "form_submit": ("form submit", "form submits", "form submission", "form submissions"),
    "seminar": ("seminar", "seminars", "seminar attended", "seminars attended"),
    "exhibition": ("exhibition", "exhibitions", "exhibition attended", "exhibitions attended",
                   "exhibition visit", "exhibition visits"),
    "stage_change": ("stage change", "stage changes"),
    "unsubscribe": ("unsubscribe", "unsubscribes"),
    "activity": ("activity", "activities"),
}

# `activity` stands for any of these: what a person did, never what the engine did to them.
ACTIVITY_TYPES = ("email_open", "email_click", "page_view", "download", "form_submit", "seminar",
                  "exhibition")

# Event properties a filter may test (an allowlist: nothing else reaches SQL).
EVENT_PROPERTIES = ("url", "link", "template", "flow", "step", "campaign", "asset", "name",
                    "form", "from", "to")

# What the short behaviour verbs count, and which property their pattern tests.
VERBS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "clicked": (("email_click",), "step"),
    "opened": (("email_open",), "step"),
    "visited": (("page_view",), "url"),
    "downloaded": (("download",), "asset"),
    "submitted": (("form_submit",), "form"),
    "attended": (("seminar", "exhibition"), "name"),
}

UNITS = ("minute", "hour", "day", "week", "month", "year")

# `schedule every ...` day words.
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY_WORDS = ("day", "weekday", "weekend") + WEEKDAYS

# `send between ... on ...` day words.
SEND_DAYS = ("weekdays", "every day", "business days")


@functools.cache
def phrase_to_kind() -> Mapping[str, str]:
    """Built once: every event match of every flow looks its phrase up here."""
    return MappingProxyType({phrase: kind for kind, phrases in EVENT_KINDS.items()
                             for phrase in phrases})


def event_kind(words: tuple[str, ...], custom: dict[str, str] | None = None) -> str | None:
    """``("page", "views")`` -> ``"page_view"``; custom kinds by their declared phrase."""
    phrase = " ".join(w.lower() for w in words)
    found = phrase_to_kind().get(phrase)
    if found is None and custom:
        found = custom.get(phrase)
    return found
