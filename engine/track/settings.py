"""What the tracking server needs beyond engine.config.Settings: UTM parameters, its limits, and
the thresholds of the complaint-rate breaker it runs (engine.runtime.breaker).

UTM parameters live in engine.toml beside the site origins (docs/tracking.md)::

    [tracking]
    site_origins = ["https://www.example.co.jp"]
    [tracking.utm]
    utm_source = "nurture"
    utm_medium = "email"
    utm_campaign = "{flow}"
    utm_content = "{step}"

Values may name ``{flow}``, ``{step}``, ``{template}`` and ``{campaign}`` of the clicked message;
nothing else is substituted (no ``str.format``: a value is text, never code). They are added only
to links into the site origins, and never replace a parameter the link already has.

Limits (:class:`Limits`) may be tuned in ``[tracking.limits]``, e.g. behind a proxy that
gathers many users on one address: ``rate_mail = [200, 1000]`` (per second, burst),
``collect_body = 8192``, ``held_view_days = 14``. The relay's reports have their own body cap
and rate (``hook_body``, ``rate_hook``).

The complaint-rate breaker (docs/operations.md) may be tuned in ``[tracking.complaints]``:
``days = 7`` (the rolling window), ``warn_percent = 0.1``, ``pause_percent = 0.3``,
``min_delivered = 1000`` (no pause below this many delivered messages in the window).
engine.config ignores keys of ``[tracking]`` it does not know, so this module reads that one table
itself, from the same file (``ENGINE_CONFIG``, else ./engine.toml).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.config import CONFIG_FILE, ConfigError
from engine.runtime.breaker import Thresholds

UTM_NAME = re.compile(r"utm_[a-z_]{1,30}")
UTM_FIELDS = ("flow", "step", "template", "campaign")
PLACEHOLDER = re.compile(r"\{(" + "|".join(UTM_FIELDS) + r")\}")
MAX_UTM_VALUE = 200


@dataclass(frozen=True)
class Limits:
    """Request-size caps (bytes), per-IP rates (requests per second, burst) and the write queue.

    Sizes follow RELIABILITY 3.9: an unsubscribe POST is ``List-Unsubscribe=One-Click`` (26
    bytes), a beacon a few hundred. Mailbox providers send one-click POSTs and image fetches for
    many users from few addresses, so those rates are generous: the limits stop floods, not mail.
    """

    unsubscribe_body: int = 1024
    collect_body: int = 4096
    form_body: int = 16 * 1024
    other_body: int = 1024
    hook_body: int = 1024 * 1024  # /hooks/events: up to 1,000 events with the remote text
    form_fields: int = 50
    rate_mail: tuple[float, int] = (50.0, 200)  # clicks, opens, unsubscribes
    rate_collect: tuple[float, int] = (20.0, 60)
    rate_form: tuple[float, int] = (2.0, 20)
    rate_hook: tuple[float, int] = (20.0, 100)  # the relay's or ESP's report batches
    tracked_ips: int = 10_000  # rate-limit entries kept (least recently seen dropped first)
    queue: int = 2000  # writes waiting; beyond it beacons and opens are dropped (and counted)
    batch: int = 200  # writes committed together
    machine_seconds: float = 10.0  # a click or open this soon after sending is a machine's
    burst_seconds: float = 3.0  # two links of one message clicked this close: a scanner
    held_view_days: int = 30  # anonymous page views never identified are deleted after this
    held_views_per_visitor: int = 500


@dataclass(frozen=True)
class TrackSettings:
    site_origins: tuple[str, ...] = ()
    utm: tuple[tuple[str, str], ...] = ()
    limits: Limits = field(default_factory=Limits)
    complaints: Thresholds = field(default_factory=Thresholds)


def parse_utm(table: object, where: str = "[tracking.utm]") -> tuple[tuple[str, str], ...]:
    """``{"utm_source": "nurture", ...}`` checked: names ``utm_*``, values short single-line
    text whose only placeholders are ``{flow}``, ``{step}``, ``{template}``, ``{campaign}``."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table of utm_* = \"value\"")
    out: list[tuple[str, str]] = []
    for name, value in table.items():
        if not UTM_NAME.fullmatch(name):
            raise ConfigError(f"{where}: {name!r} is not a UTM parameter (utm_source, "
                              "utm_medium, utm_campaign, utm_content, utm_term...)")
        if not isinstance(value, str) or not value or len(value) > MAX_UTM_VALUE:
            raise ConfigError(f"{where}: {name} must be text of 1 to {MAX_UTM_VALUE} characters")
        if any(ch in value for ch in "\r\n\t") or PLACEHOLDER.sub("", value).count("{"):
            raise ConfigError(f"{where}: {name} = {value!r}: only {{flow}}, {{step}}, "
                              "{template} and {campaign} can be filled in")
        out.append((name, value))
    return tuple(out)


def fill_utm(utm: tuple[tuple[str, str], ...], values: Mapping[str, str | None]
             ) -> list[tuple[str, str]]:
    """The parameters for one message; one whose placeholder has no value is left out."""
    out: list[tuple[str, str]] = []
    for name, template in utm:
        missing = False

        def sub(m: re.Match[str]) -> str:
            nonlocal missing
            got = values.get(m.group(1))
            if not got:
                missing = True
                return ""
            return got

        filled = PLACEHOLDER.sub(sub, template)
        if not missing:
            out.append((name, filled))
    return out


def load_track_settings(site_origins: tuple[str, ...], path: Path | None = None,
                        environ: Mapping[str, str] | None = None) -> TrackSettings:
    """The tracking settings: ``site_origins`` from engine.config, UTM from the config file."""
    env = os.environ if environ is None else environ
    file = path or Path(env.get("ENGINE_CONFIG", CONFIG_FILE))
    utm: tuple[tuple[str, str], ...] = ()
    limits = Limits()
    complaints = Thresholds()
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: {exc}") from None
        tracking = data.get("tracking", {})
        if isinstance(tracking, dict) and "utm" in tracking:
            utm = parse_utm(tracking["utm"], f"{file}: [tracking.utm]")
        if isinstance(tracking, dict) and "limits" in tracking:
            limits = parse_limits(tracking["limits"], f"{file}: [tracking.limits]")
        if isinstance(tracking, dict) and "complaints" in tracking:
            complaints = parse_thresholds(tracking["complaints"],
                                          f"{file}: [tracking.complaints]")
    for origin in site_origins:
        if not valid_origin(origin):
            raise ConfigError(f"site origin {origin!r} must be scheme://host[:port], e.g. "
                              "https://www.example.co.jp (no path)")
    return TrackSettings(site_origins=tuple(o.lower() for o in site_origins), utm=utm,
                         limits=limits, complaints=complaints)


def parse_limits(table: object, where: str = "[tracking.limits]") -> Limits:
    """``{"rate_mail": [200, 1000], "collect_body": 8192}`` -> Limits; positive numbers only."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    defaults = Limits()
    values: dict[str, Any] = {}
    for name, value in table.items():
        default = getattr(defaults, name, None)
        if default is None or name.startswith("_"):
            known = ", ".join(Limits.__dataclass_fields__)
            raise ConfigError(f"{where}: unknown limit {name!r} (known: {known})")
        if isinstance(default, tuple):
            ok = (isinstance(value, list) and len(value) == 2
                  and all(_positive(v) for v in value) and isinstance(value[1], int))
            if not ok:
                raise ConfigError(f"{where}: {name} = [requests per second, burst], both > 0")
            values[name] = (float(value[0]), int(value[1]))
        elif isinstance(default, int) and not isinstance(default, bool):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{where}: {name} must be a whole number >= 1")
            values[name] = value
        else:
            if not _positive(value):
                raise ConfigError(f"{where}: {name} must be a number > 0")
            values[name] = float(value)
    return replace(defaults, **values)


def parse_thresholds(table: object, where: str = "[tracking.complaints]") -> Thresholds:
    """``{"days": 7, "warn_percent": 0.1, "pause_percent": 0.3, "min_delivered": 1000}``
    -> Thresholds: whole days 1 to 90, percentages above 0 and at most 100 (the warning not
    above the pause), a whole minimum volume >= 1."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    known = tuple(Thresholds.__dataclass_fields__)
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(known)})")
    values: dict[str, Any] = {}
    for name in ("days", "min_delivered"):
        if name in table:
            value = table[name]
            top = 90 if name == "days" else 10**9
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                raise ConfigError(f"{where}: {name} must be a whole number from 1 to {top:,}")
            values[name] = value
    for name in ("warn_percent", "pause_percent"):
        if name in table:
            value = table[name]
            if not _positive(value) or value > 100:
                raise ConfigError(f"{where}: {name} must be a percentage above 0, at most 100 "
                                  "(0.3 means 0.3 %)")
            values[name] = float(value)
    out = replace(Thresholds(), **values)
    if out.warn_percent > out.pause_percent:
        raise ConfigError(f"{where}: warn_percent ({out.warn_percent:g}) is above "
                          f"pause_percent ({out.pause_percent:g})")
    return out


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


_ORIGIN = re.compile(r"https?://[a-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?")


def valid_origin(origin: str) -> bool:
    return bool(_ORIGIN.fullmatch(origin.lower()))
