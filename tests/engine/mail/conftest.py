"""Shared pieces for the email tests: settings, a renderer over the real templates, leads, and
a templates folder of one's own (with the real layouts) for hostile or broken templates."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.config import Sender, Settings
from engine.mail.render import Renderer

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "templates"
SECRET = b"test-secret-not-for-production"
AT = dt.datetime(2026, 11, 24, 0, 30, tzinfo=dt.UTC)


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "tracking_url": "https://t.example.co.jp",
        "sender": Sender(name="Example Corp.", address="marketing@example.co.jp",
                         reply_to="support@example.co.jp",
                         postal_address="1-2-3 Marunouchi, Chiyoda-ku, Tokyo 100-0005, Japan",
                         message_id_domain="mail.example.co.jp"),
        "templates": TEMPLATES,
        "owners": (("tanaka.k@example.co.jp", "田中 健"),),
    }
    base.update(overrides)
    return Settings(**base)


def ja_lead(**overrides: Any) -> dict[str, Any]:
    lead: dict[str, Any] = {
        "id": 1, "email": "yamada.taro@example.jp", "first_name": "太郎", "last_name": "山田",
        "company": "株式会社サンプル商事", "employees": 1200, "industry": "商社",
        "title": "経理部長", "stage": "customer", "owner": "tanaka.k@example.co.jp",
        "language": "ja", "time_zone": "Asia/Tokyo",
        "custom": {"renewal_date": "2027-03-31", "current_software": "勘定奉行"},
        "provenance": {}, "created_at": dt.datetime(2024, 4, 1, tzinfo=dt.UTC),
    }
    lead.update(overrides)
    return lead


def en_lead(**overrides: Any) -> dict[str, Any]:
    lead: dict[str, Any] = {
        "id": 2, "email": "jane.doe@example.com", "first_name": "Jane", "last_name": "Doe",
        "company": "Acme Trading", "language": "en", "owner": None, "custom": {},
    }
    lead.update(overrides)
    return lead


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(settings(), SECRET)


@pytest.fixture
def library(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """A templates folder with the real layouts plus the given files (path -> text)."""

    def make(files: dict[str, str]) -> Path:
        root = tmp_path / "templates"
        for lang in ("ja", "en"):
            (root / lang).mkdir(parents=True, exist_ok=True)
            for layout in ("_layout.html", "_notification.txt"):
                shutil.copy(TEMPLATES / lang / layout, root / lang / layout)
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return root

    return make


def page(content: str, subject: str = "件名") -> str:
    """A template on the real layout."""
    return ('{% extends "_layout.html" %}\n'
            f"{{% block subject %}}{subject}{{% endblock %}}\n"
            "{% block content %}\n" + content + "\n{% endblock %}\n")
