"""The settings the email part adds: owners' display names and the CRM link for alerts."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import ConfigError, load_settings


def test_owners_and_lead_url(tmp_path: Path) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text('lead_url = "https://crm.example.co.jp/leads?email={email}"\n'
                    '[owners]\n"Tanaka.K@example.co.jp" = "田中 健"\n', encoding="utf-8")
    s = load_settings(toml, environ={})
    assert s.owners == (("tanaka.k@example.co.jp", "田中 健"),)
    assert s.lead_url == "https://crm.example.co.jp/leads?email={email}"
    assert load_settings(toml, environ={"ENGINE_LEAD_URL": "https://x/{email}"}).lead_url \
        == "https://x/{email}"


def test_without_them(tmp_path: Path) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text("", encoding="utf-8")
    s = load_settings(toml, environ={})
    assert (s.owners, s.lead_url, s.templates) == ((), None, Path("templates"))


@pytest.mark.parametrize("body", ['[owners]\n"a@example.co.jp" = "田中\\n健"\n',
                                  '[owners]\n"not-an-address" = "x"\n',
                                  '[owners]\n"a@example.co.jp" = 3\n',
                                  'owners = "x"\n',
                                  'lead_url = "https://x/\\r\\nBcc: y"\n'])
def test_bad_values_are_refused(tmp_path: Path, body: str) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_settings(toml, environ={})
