"""Values the engine creates once and keeps in the store (the ``settings`` table).

The signing secret of tracking tokens and Message-IDs: ``ENGINE_SECRET`` when configured;
otherwise a random one, generated on first use and kept, so that every engine process and
`engine serve` on the same store agree, and links in mail sent last month still verify. Never a
constant: a secret in the source would let anyone forge unsubscribe and click tokens.
"""

from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.store.schema import settings

SECRET_KEY = "signing_secret"


def signing_secret(engine: Engine, configured: str | None = None) -> bytes:
    """The HMAC key: ``configured`` (ENGINE_SECRET) if given, else the store's own."""
    if configured:
        return configured.encode("utf-8")
    return kept_value(engine, SECRET_KEY, lambda: secrets.token_urlsafe(48)).encode("ascii")


def kept_value(engine: Engine, key: str, make: object) -> str:
    """The value under ``key``; created with ``make()`` by whichever process gets there first
    (the primary key makes the race harmless: the loser reads the winner's value)."""
    with engine.connect() as conn:
        found = conn.execute(sa.select(settings.c.value).where(settings.c.key == key)).scalar()
    if found is not None:
        return str(found)
    value = make() if callable(make) else str(make)
    try:
        with engine.begin() as conn:
            conn.execute(settings.insert().values(key=key, value=value,
                                                  created_at=dt.datetime.now(dt.UTC)))
    except sa.exc.IntegrityError:
        pass
    with engine.connect() as conn:
        return str(conn.execute(sa.select(settings.c.value)
                                .where(settings.c.key == key)).scalar_one())
