"""Fixtures: a migrated store (SQLite and PostgreSQL), a fault-injecting SMTP sink on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.config import Settings
from engine.store import db
from tests.engine.delivery.sink import FaultSink


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = db.connect(f"sqlite:///{tmp_path}/store.db")
    yield engine
    engine.dispose()


@pytest.fixture
def sink() -> Iterator[FaultSink]:
    with FaultSink() as server:
        yield server


@pytest.fixture
def smtp_settings(sink: FaultSink, tmp_path: Path) -> Settings:
    return Settings(smtp_url=sink.url(timeout=2), mail_dir=tmp_path / "mail")
