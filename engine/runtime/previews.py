"""`engine plan --out DIR`: the email each sample recipient would get, as HTML, text and .eml,
rendered by the same renderer delivery uses (tokens point at outbox row 0: nothing to click)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from engine.config import Settings
from engine.store.keep import signing_secret
from engine.store.schema import leads

SAMPLES = 3
UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


def safe(name: str) -> str:
    """A file name from lead data: nothing that could climb out of the folder."""
    cleaned = UNSAFE.sub("_", name).strip("._") or "x"
    return cleaned[:80]


def write_previews(out: Path, plan: dict[str, Any], engine: Engine,
                   settings: Settings) -> list[Path]:
    from engine.mail.render import MailJob, Renderer

    renderer = Renderer(settings, signing_secret(engine, settings.secret))
    per_step: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for action in plan["actions"]:
        if action["action"] == "send" and len(per_step[(action["flow"], action["step"])]) < \
                SAMPLES:
            per_step[(action["flow"], action["step"])].append(action)
    emails = sorted({a["email"] for items in per_step.values() for a in items})
    with engine.connect() as conn:
        people = {r.email: dict(r._mapping) for r in conn.execute(
            sa.select(leads).where(leads.c.email.in_(emails)))}
    written: list[Path] = []
    for (flow, step), items in sorted(per_step.items()):
        folder = out / safe(flow) / safe(step)
        folder.mkdir(parents=True, exist_ok=True)
        for n, action in enumerate(items, 1):
            stem = f"{n}-{safe(action['email'])}"
            job = MailJob(template=action["template"], lead=people[action["email"]], flow=flow,
                          step=step)
            try:
                rendered = renderer.render(job)
                built = renderer.message(job)
            except Exception as exc:  # noqa: BLE001 - one broken template is a finding
                path = folder / f"{stem}.error.txt"
                path.write_text(f"{exc}\n", encoding="utf-8")
                written.append(path)
                continue
            for suffix, data in ((".html", rendered.html.encode("utf-8")),
                                 (".txt", rendered.text.encode("utf-8")),
                                 (".eml", built.data)):
                path = folder / f"{stem}{suffix}"  # not with_suffix: emails hold dots
                path.write_bytes(data)
                written.append(path)
    return written
