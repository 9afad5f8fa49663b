"""Rendering a flow's email for one lead, and building the bytes the delivery layer sends.

    renderer = Renderer(settings, secret)
    built = renderer.message(MailJob("dormant/intro.html", lead, "revive_dormant", "intro",
                                     outbox_id=42, message_id=mid, sender_owner=True,
                                     sender_address="cs@example.co.jp"))
    built.data          # the whole RFC 5322 message (multipart/alternative, UTF-8)
    built.links         # link targets; /c/{token}/{i} redirects to built.links[i]

Per message: three tokens are signed (click, open, unsubscribe: one HMAC each, not one per
link), the prepared template (engine.mail.prepare, cached per template and language) is rendered
twice (HTML, text) inside the sandbox's limits, and the MIME bytes are filled into the skeleton
(engine.mail.mime). Anything a template or a lead's data does wrong raises
:class:`TemplateError` for this message only, naming the template's file and line.

Settings that shape the headers: ``one_click_unsubscribe`` (List-Unsubscribe-Post, RFC 8058),
``unsubscribe_mailto`` (a mailto beside the https URI) and ``[dkim]``: with it, every message,
marketing or notification, is signed over its final bytes (engine.mail.dkim), so the SMTP
relay and the .eml folder get the same signed message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from engine.config import Settings
from engine.mail import mime, tokens
from engine.mail.context import (
    LANGUAGES,
    Record,
    greeting,
    helpers,
    is_address,
    language_of,
    lead_values,
    owner_values,
)
from engine.mail.errors import HeaderError, TemplateError
from engine.mail.library import Library
from engine.mail.links import OPEN_URL, TRACK_FUNCTION, Tracker
from engine.mail.prepare import Prepared, prepare, render_block, render_template, template_error
from engine.mail.sandbox import limits
from engine.mail.text import text_of, tidy

if TYPE_CHECKING:
    from engine.mail.dkim import Signer

__all__ = ["Built", "HeaderError", "MailJob", "Rendered", "Renderer", "TemplateError"]


@dataclass(frozen=True)
class MailJob:
    template: str  # as written in the flow: "dormant/intro.html"
    lead: Mapping[str, Any]  # the lead row as a dict, "custom" a dict of custom attributes
    flow: str
    step: str
    outbox_id: int = 0  # 0 for previews (tokens still valid-looking but point nowhere)
    message_id: str | None = None  # deterministic (engine.mail.tokens.message_id); None: new
    sender_owner: bool = False  # `from owner or "x"`: the lead's owner if known, else address
    sender_address: str | None = None
    at: dt.datetime | None = None  # the Date header; None: now


@dataclass(frozen=True)
class Rendered:
    subject: str
    preheader: str
    html: str
    text: str
    links: list[str]  # original targets; index = i of /c/{token}/{i}


@dataclass(frozen=True)
class Built:
    data: bytes
    links: list[str]
    sender: str  # the From address (also the envelope sender)
    recipient: str
    subject: str
    message_id: str


@dataclass(frozen=True)
class _From:
    name: str
    address: str
    is_owner: bool


class Renderer:
    """Renders templates for leads; compiled templates are cached for its lifetime."""

    def __init__(self, settings: Settings, secret: bytes, templates: Path | None = None) -> None:
        self.settings = settings
        self.secret = secret
        self.library = Library(templates if templates is not None else settings.templates)
        self.owners = {k.lower(): v for k, v in getattr(settings, "owners", ())}
        s = settings.sender
        self.org = Record({"name": s.name, "address": s.address,
                           "postal_address": s.postal_address,
                           "contact": s.reply_to or s.address})
        self.helpers = {lang: helpers(lang) for lang in LANGUAGES}
        self._prepared: dict[tuple[str, str], Prepared | TemplateError] = {}
        self._languages: dict[tuple[str, str], str] = {}
        self._globals: dict[str, dict[str, Any]] = {}
        self._skeletons: dict[tuple[str, str], mime.Skeleton] = {}
        self.one_click = bool(getattr(settings, "one_click_unsubscribe", True))
        self.unsubscribe_mailto: str | None = getattr(settings, "unsubscribe_mailto", None)
        self.signer: Signer | None = None
        dkim = getattr(settings, "dkim", None)
        if dkim is not None:  # dkimpy (and DNS) is imported only when signing: 50 ms saved
            from engine.mail.dkim import Signer

            # Read the key now: a missing or unusable key stops the run before anything is
            # claimed, not one message at a time.
            self.signer = Signer.load(
                dkim, [s.address, *(address for address, _ in getattr(settings, "owners", ()))])

    # ------------------------------------------------------------ templates

    def prepared(self, template: str, lead: Mapping[str, Any]) -> Prepared:
        wanted = language_of(lead)
        language = self._languages.get((template, wanted))
        if language is None:
            language = self._languages[template, wanted] = \
                self.library.language_for(template, wanted)
        key = (template, language)
        found = self._prepared.get(key)
        if found is None:
            try:
                found = self._prepared[key] = prepare(self.library, template, language)
            except TemplateError as exc:
                self._prepared[key] = exc  # every message of a broken template fails fast
                raise
        if isinstance(found, TemplateError):
            raise TemplateError(found.reason, found.file, found.line)
        return found

    def _skeleton(self, kind: str, language: str) -> mime.Skeleton:
        key = (kind, language)
        found = self._skeletons.get(key)
        if found is None:
            lang = language or "ja"
            found = self._skeletons[key] = (
                mime.alternative_skeleton(lang, unsubscribe_post=self.one_click)
                if kind == "html" else mime.plain_skeleton(lang))
        return found

    # ------------------------------------------------------------ context

    def _from(self, job: MailJob) -> _From:
        owner = job.lead.get("owner")
        if job.sender_owner and is_address(owner):
            assert isinstance(owner, str)
            return _From(self.owners.get(owner.lower()) or owner.split("@")[0], owner, True)
        address = job.sender_address or self.settings.sender.address
        if not is_address(address):
            raise HeaderError(f"the sender {address!r} is not a plain email address")
        return _From(self.settings.sender.name, address, False)

    def _context(self, p: Prepared, lead: Mapping[str, Any], flow: str, step: str,
                 sender: _From | None) -> dict[str, Any]:
        language = p.language or language_of(lead)
        scores = lead.get("scores")
        base = self._globals.get(p.language)
        if base is None:
            base = self._globals[p.language] = dict(self.library.env(p.language).globals)
        ctx: dict[str, Any] = {
            **base,
            "lead": Record(lead_values(lead)),
            "owner": Record(owner_values(lead, self.owners)),
            "org": self.org,
            "flow": flow,
            "step": step,
            "site_url": self.settings.site_url,
            "greeting": greeting(lead, language),
            "scores": Record(scores if isinstance(scores, Mapping) else {}),
            **self.helpers[language],
        }
        if sender is not None:
            ctx["sender"] = Record({"name": sender.name, "address": sender.address,
                                    "is_owner": sender.is_owner})
        return ctx

    def _tracked(self, ctx: dict[str, Any], outbox_id: int) -> tuple[Tracker, str]:
        base = self.settings.tracking_url
        click = tokens.sign(self.secret, "click", outbox_id)
        opened = tokens.sign(self.secret, "open", outbox_id)
        unsubscribe = f"{base}/u/{tokens.sign(self.secret, 'unsubscribe', outbox_id)}"
        tracker = Tracker(f"{base}/c/{click}/")
        ctx[TRACK_FUNCTION] = tracker.track
        ctx[OPEN_URL] = f"{base}/o/{opened}.gif"
        ctx["unsubscribe_url"] = unsubscribe
        return tracker, unsubscribe

    # ------------------------------------------------------------ rendering

    def _block(self, p: Prepared, block: str, ctx: dict[str, Any]) -> str | None:
        try:
            value = render_block(p.original, block, ctx)
        except Exception as exc:  # noqa: BLE001 - one message fails, with the template's line
            raise template_error(exc, p.maps, p.file) from None
        if value is None:
            return None
        if p.is_html:
            value = Markup(value).unescape()
        return " ".join(value.split()) if block == "preheader" else value.strip()

    def _subject(self, p: Prepared, ctx: dict[str, Any]) -> str:
        subject = self._block(p, "subject", ctx)
        if not subject:
            raise TemplateError("the template has no subject: add "
                                "{% block subject %}...{% endblock %}", p.file)
        return mime.checked(subject, f"subject of {p.file}")

    def _render(self, p: Prepared, job: MailJob, preheader: bool = True
                ) -> tuple[Rendered, _From, str]:
        if not p.is_html:
            raise TemplateError("a marketing email needs an HTML template (.html); plain-text "
                                "templates are for internal notifications", p.file)
        if not self.org.get("name", "").strip() or not self.org.get("postal_address", "").strip():
            raise TemplateError("marketing email needs the sender's name and postal address in "
                                "its footer: set [sender] name and postal_address in engine.toml")
        sender = self._from(job)
        ctx = self._context(p, job.lead, job.flow, job.step, sender)
        tracker, unsubscribe = self._tracked(ctx, job.outbox_id)
        with limits():
            subject = self._subject(p, ctx)
            pre = (self._block(p, "preheader", ctx) or "") if preheader else ""
            html_template, text_template = p.html, p.text
            assert html_template is not None
            try:
                html = render_template(html_template, ctx)
                text = tidy(render_template(text_template, ctx)) \
                    if text_template is not None else None
            except Exception as exc:  # noqa: BLE001 - one message fails, with the template's line
                raise template_error(exc, p.maps, p.file) from None
        if text is None:
            text = text_of(html)
        return Rendered(subject, pre, html, text, tracker.links), sender, unsubscribe

    def subject(self, job: MailJob) -> str:
        """The subject line this job's message will have (what `engine plan` shows)."""
        p = self.prepared(job.template, job.lead)
        ctx = self._context(p, job.lead, job.flow, job.step, self._from(job))
        self._tracked(ctx, job.outbox_id)
        with limits():
            return self._subject(p, ctx)

    def render(self, job: MailJob) -> Rendered:
        return self._render(self.prepared(job.template, job.lead), job)[0]

    def message(self, job: MailJob) -> Built:
        """The whole message, ready for SMTP or a .eml file."""
        p = self.prepared(job.template, job.lead)
        rendered, sender, unsubscribe = self._render(p, job, preheader=False)
        recipient = self._recipient(job.lead)
        mid = mime.message_id(job.message_id, self.settings.sender.message_id_domain)
        reply_to = sender.address if sender.is_owner else \
            (self.settings.sender.reply_to or sender.address)
        head = [
            f"Date: {mime.date_header(job.at)}",
            f"From: {mime.mailbox(sender.name, sender.address, 'sender')}",
            f"Reply-To: {mime.mailbox('', reply_to, 'reply-to')}",
            f"To: {mime.mailbox(self._lead_name(job.lead), recipient, 'recipient')}",
            f"Subject: {mime.encode_text(rendered.subject, 'subject', 9)}",
            f"Message-ID: {mid}",
            f"List-Unsubscribe: {mime.list_unsubscribe(unsubscribe, self.unsubscribe_mailto)}",
        ]
        data = self._skeleton("html", p.language).assemble(head, [rendered.text, rendered.html])
        if self.signer is not None:
            data = self.signer.sign(data, sender.address)
        return Built(data, rendered.links, sender.address, recipient, rendered.subject, mid)

    def notification(self, template: str, lead: Mapping[str, Any], flow: str, step: str,
                     to: str | None, at: dt.datetime | None = None,
                     message_id: str | None = None) -> Built:
        """A plain-text internal alert about ``lead`` to ``to`` (its owner or a team): no
        tracking, no unsubscribe (it is not marketing mail)."""
        if not is_address(to):
            raise HeaderError(f"the notification recipient {to!r} is not a plain email address")
        assert to is not None
        p = self.prepared(template, lead)
        ctx = self._context(p, lead, flow, step, None)
        ctx["sender"] = Record({"name": self.settings.sender.name,
                                "address": self.settings.sender.address, "is_owner": False})
        ctx["lead_url"] = self._lead_url(lead)
        with limits():
            subject = self._subject(p, ctx)
            try:
                body = render_template(p.original, ctx)
            except Exception as exc:  # noqa: BLE001 - one message fails, with the template's line
                raise template_error(exc, p.maps, p.file) from None
        text = text_of(body) if p.is_html else tidy(body)
        mid = mime.message_id(message_id, self.settings.sender.message_id_domain)
        org = self.settings.sender
        head = [
            f"Date: {mime.date_header(at)}",
            f"From: {mime.mailbox(org.name, org.address, 'sender')}",
            f"To: {mime.mailbox('', to, 'recipient')}",
            f"Subject: {mime.encode_text(subject, 'subject', 9)}",
            f"Message-ID: {mid}",
        ]
        data = self._skeleton("text", p.language).assemble(head, [text])
        if self.signer is not None:
            data = self.signer.sign(data, org.address)
        return Built(data, [], self.settings.sender.address, to, subject, mid)

    # ------------------------------------------------------------ people

    @staticmethod
    def _recipient(lead: Mapping[str, Any]) -> str:
        address = lead.get("email")
        if not is_address(address):
            raise HeaderError(f"the lead's email {address!r} is not a plain email address")
        assert isinstance(address, str)
        return address

    @staticmethod
    def _lead_name(lead: Mapping[str, Any]) -> str:
        first = str(lead.get("first_name") or "").strip()
        last = str(lead.get("last_name") or "").strip()
        if language_of(lead) == "ja":
            return f"{last} {first}".strip()
        return f"{first} {last}".strip()

    def _lead_url(self, lead: Mapping[str, Any]) -> str:
        pattern = getattr(self.settings, "lead_url", None)
        if not pattern:
            return ""
        from urllib.parse import quote

        return str(pattern).replace("{email}", quote(str(lead.get("email") or ""), safe="@"))
