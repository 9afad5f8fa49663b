"""`engine preview TEMPLATE --lead EMAIL [--out DIR] [--db URL]`: one template, rendered for one
lead of the store, exactly as the engine would send it.

Without ``--out`` it prints the subject and the text part. With ``--out DIR`` it writes the HTML
part, the text part and the whole message (.eml, openable in any mail client) into DIR. Links
point at the tracking server with tokens for a message that does not exist (outbox id 0), so a
preview can be clicked without counting as a click. Internal notifications (``alerts/*.txt``)
are previewed as the plain-text email the owner (or, without one, the sender address) would get.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from engine.cli.common import guarded
from engine.cli.db import DB_OPTION, store_errors
from engine.workspace import UsageError


@click.command()
@click.argument("template")
@click.option("--lead", "email", required=True, metavar="EMAIL", help="the lead to render for")
@click.option("--out", "out_dir", metavar="DIR", default=None,
              help="write TEMPLATE's .html, .txt and .eml here instead of printing")
@DB_OPTION
@click.option("--templates", metavar="DIR", default=None,
              help="templates folder (default: `templates` in engine.toml, else ./templates)")
@click.option("--flow", default="preview", show_default=True, help="the flow name templates see")
@click.option("--step", default="preview", show_default=True, help="the step name templates see")
@click.option("--from-owner", "from_owner", is_flag=True,
              help="send as the lead's owner, as `from owner or ...` does")
@click.option("--from", "sender", metavar="ADDRESS", default=None,
              help="the sender address (the fallback with --from-owner)")
def preview(template: str, email: str, out_dir: str | None, db_url: str | None,
            templates: str | None, flow: str, step: str, from_owner: bool,
            sender: str | None) -> None:
    """Render TEMPLATE (as flows name it, e.g. dormant/intro.html) for the lead with EMAIL.

    Exit 0 when rendered, 1 when there is no such lead or the template fails for this lead
    (the message says the file and line), 2 on a usage, configuration or database error.
    """

    def body() -> int:
        from engine.config import load_settings
        from engine.mail.errors import TemplateError

        settings = load_settings()  # a ConfigError is reported by guarded (exit 2)
        folder = Path(templates) if templates else settings.templates
        if not folder.is_dir():
            raise UsageError(f"{folder}: templates folder not found")
        lead, secret = load_lead(db_url, email, settings.secret)
        if lead is None:
            click.echo(f"engine: no lead with email {email}", err=True)
            return 1
        try:
            files = render(settings, secret, folder, template, lead, flow, step, from_owner,
                           sender)
        except TemplateError as exc:
            if str(exc).startswith("no template"):
                raise UsageError(str(exc)) from exc
            click.echo(f"engine: {exc}", err=True)
            return 1
        if out_dir is None:
            click.echo(f"Subject: {files['subject']}\n")
            click.echo(files["txt"], nl=False)
            return 0
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        stem = template.rsplit(".", 1)[0].replace("/", "_").replace("\\", "_").lstrip(".")
        for suffix in ("html", "txt", "eml"):
            if suffix in files:
                path = out / f"{stem}.{suffix}"
                data = files[suffix]
                if isinstance(data, bytes):
                    path.write_bytes(data)
                else:
                    path.write_text(data, encoding="utf-8")
                click.echo(f"wrote {path}")
        return 0

    sys.exit(guarded(body))


def load_lead(db_url: str | None, email: str, configured: str | None
              ) -> tuple[dict[str, Any] | None, bytes]:
    import sqlalchemy as sa

    from engine.store import db as store
    from engine.store.emails import normalise_email
    from engine.store.keep import signing_secret
    from engine.store.schema import leads

    with store_errors():
        engine = store.connect(db_url)
        try:
            with engine.connect() as conn:
                row = conn.execute(sa.select(leads).where(
                    leads.c.email == normalise_email(email))).first()
            return (dict(row._mapping) if row is not None else None,
                    signing_secret(engine, configured))
        finally:
            engine.dispose()


def render(settings: Any, secret: bytes, folder: Path, template: str, lead: dict[str, Any],
           flow: str, step: str, from_owner: bool, sender: str | None) -> dict[str, Any]:
    """subject, txt, eml (bytes) and, for HTML templates, html."""
    from engine.mail.context import is_address
    from engine.mail.library import autoescaped
    from engine.mail.render import MailJob, Renderer

    renderer = Renderer(settings, secret, folder)
    if not autoescaped(template):
        owner = lead.get("owner")
        to = owner if is_address(owner) else (sender or settings.sender.address)
        built = renderer.notification(template, lead, flow, step, to)
        text = built.data.split(b"\r\n\r\n", 1)[1]
        return {"subject": built.subject, "eml": built.data,
                "txt": _decoded_text(built.data, text)}
    job = MailJob(template, lead, flow, step, sender_owner=from_owner, sender_address=sender)
    rendered = renderer.render(job)
    built = renderer.message(job)
    return {"subject": rendered.subject, "html": rendered.html, "txt": rendered.text,
            "eml": built.data}


def _decoded_text(message: bytes, fallback: bytes) -> str:
    import email
    import email.policy

    parsed = email.message_from_bytes(message, policy=email.policy.default)
    try:
        return str(parsed.get_content())  # type: ignore[attr-defined]
    except (KeyError, LookupError):
        return fallback.decode("utf-8", "replace")
