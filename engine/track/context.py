"""What every endpoint shares: the store, the writer, the secret, the settings and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from starlette.requests import Request

from engine.config import Settings
from engine.imports.config import Config
from engine.track.settings import TrackSettings
from engine.track.writer import Writer


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    engine: Engine
    writer: Writer
    secret: bytes
    settings: Settings
    track: TrackSettings
    config: Config  # attributes and merge rules of the flows (forms use them)
    now: Callable[[], datetime] = utc_now
    zone: tzinfo = ZoneInfo("Asia/Tokyo")  # form values with a date but no offset


def context(request: Request) -> Context:
    ctx = request.app.state.ctx
    assert isinstance(ctx, Context)
    return ctx
