"""What the server answers people with: small HTML pages in Japanese or English, and the pixel.

Pages are Jinja templates with autoescape on: every value shown (an address, a form field's
name) is escaped, nothing is marked safe, and no page runs script (the server's CSP allows none).
Pages without a known lead are bilingual, Japanese first (the engine's users mail Japan first).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from jinja2 import DictLoader, Environment, select_autoescape
from starlette.responses import HTMLResponse, Response

# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {"cache-control": "no-store, no-cache, must-revalidate, max-age=0",
            "pragma": "no-cache", "expires": "0"}

TEXT: Mapping[str, Mapping[str, str]] = {
    "ja": {
        "confirm_title": "配信停止の確認",
        "confirm_body": "{email} 宛のメール配信を停止します。"
                        "よろしければ下のボタンを押してください。",
        "confirm_any": "メール配信を停止します。よろしければ下のボタンを押してください。",
        "confirm_button": "配信を停止する",
        "done_title": "配信を停止しました",
        "done_body": "今後、このアドレスにメールをお送りすることはありません。反映は即時です。",
        "manual_title": "このリンクは使えません",
        "manual_body": "リンクが途中で切れているか、無効になっています。配信停止をご希望の場合は、"
                       "このメールに返信するか、下記までご連絡ください。",
        "not_found_title": "このリンクは無効です",
        "not_found_body": "リンクが途中で切れているか、無効になっています。",
        "error_title": "一時的なエラーです",
        "error_body": "しばらくしてから、もう一度お試しください。",
        "thanks_title": "送信しました",
        "thanks_body": "ありがとうございました。",
        "bad_form_title": "入力内容をご確認ください",
        "bad_form_body": "次の項目を確認してください:",
        "contact": "お問い合わせ先",
    },
    "en": {
        "confirm_title": "Unsubscribe",
        "confirm_body": "Stop emails to {email}? Press the button below to confirm.",
        "confirm_any": "Stop our emails? Press the button below to confirm.",
        "confirm_button": "Unsubscribe",
        "done_title": "You are unsubscribed",
        "done_body": "We will not send further emails to this address. This takes effect now.",
        "manual_title": "This link cannot be used",
        "manual_body": "The link is cut off or no longer valid. To stop our emails, reply to the "
                       "email or write to us at the address below.",
        "not_found_title": "This link is not valid",
        "not_found_body": "The link is cut off or no longer valid.",
        "error_title": "Temporary error",
        "error_body": "Please try again in a moment.",
        "thanks_title": "Sent",
        "thanks_body": "Thank you.",
        "bad_form_title": "Please check the form",
        "bad_form_body": "These fields need a valid value:",
        "contact": "Contact",
    },
}

_LAYOUT = """<!doctype html>
<html lang="{{ langs[0] }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{{ t[langs[0]][title] }}</title>
<style>body{font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em;color:#222}
button{font-size:1em;padding:.6em 1.4em}section+section{margin-top:2em;border-top:1px solid #ddd}
</style></head><body>
{% for lang in langs %}<section lang="{{ lang }}">
<h1>{{ t[lang][title] }}</h1>
{% block content scoped %}{% endblock %}
</section>{% endfor %}
</body></html>
"""

_TEMPLATES = {
    "layout.html": _LAYOUT,
    "confirm.html": """{% extends "layout.html" %}{% block content %}
<p>{% if email %}{{ t[lang].confirm_body.replace("{email}", email) }}{% else %}
{{ t[lang].confirm_any }}{% endif %}</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">{{ t[lang].confirm_button }}</button></form>
{% endblock %}""",
    "message.html": """{% extends "layout.html" %}{% block content %}
<p>{{ t[lang][body] }}</p>
{% if fields %}<ul>{% for f in fields %}<li>{{ f }}</li>{% endfor %}</ul>{% endif %}
{% if sender %}<p>{{ t[lang].contact }}: {{ sender.name }} &lt;{{ sender.address }}&gt;<br>
{{ sender.postal_address }}</p>{% endif %}
{% endblock %}""",
}

_env = Environment(loader=DictLoader(_TEMPLATES), autoescape=select_autoescape(default=True),
                   auto_reload=False)


def languages(language: str | None = None, country: str | None = None) -> tuple[str, ...]:
    """The page's languages: the lead's, else Japanese for Japan, else both."""
    lang = (language or "").strip().lower()[:2]
    if lang in TEXT:
        return (lang,)
    if (country or "").strip().upper() in ("JP", "JPN", "JAPAN", "日本"):
        return ("ja",)
    if country:
        return ("en",)
    return ("ja", "en")


def page(template: str, langs: tuple[str, ...], status: int = 200,
         headers: Mapping[str, str] | None = None, **values: Any) -> HTMLResponse:
    html = _env.get_template(template).render(t=TEXT, langs=langs, **values)
    return HTMLResponse(html, status_code=status, headers=dict(headers or {}))


def message(key: str, langs: tuple[str, ...] = ("ja", "en"), status: int = 200,
            **values: Any) -> HTMLResponse:
    """A page with one message: ``key`` names ``<key>_title`` and ``<key>_body``."""
    return page("message.html", langs, status, title=f"{key}_title", body=f"{key}_body",
                **values)


def mask(email: str) -> str:
    """``taro@example.co.jp`` -> ``t***@example.co.jp``: enough to recognise, not to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def pixel() -> Response:
    return Response(PIXEL, media_type="image/gif", headers=NO_CACHE)
