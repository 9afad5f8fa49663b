"""tests/browser.py's extra Chromium flags and session capabilities: where they go, that they
cannot displace the browser binary and profile, and that a flag reaches a real Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import BASE_ARGS, chromium, session_capabilities, start_browser

BIN, PROFILE = Path("/usr/bin/chromium"), Path("/tmp/profile")


def test_flags_follow_the_base_ones_and_capabilities_are_added() -> None:
    caps = session_capabilities(BIN, PROFILE, "Agent/1", ["--lang=en", "--window-size=800,600"],
                                {"acceptInsecureCerts": True, "pageLoadStrategy": "eager"})
    options = caps["goog:chromeOptions"]
    assert options["binary"] == str(BIN)
    assert options["args"] == [*BASE_ARGS, f"--user-data-dir={PROFILE}", "--user-agent=Agent/1",
                               "--lang=en", "--window-size=800,600"]
    assert caps["acceptInsecureCerts"] is True and caps["pageLoadStrategy"] == "eager"
    assert caps["browserName"] == "chrome"


def test_without_extras_the_session_is_the_plain_one() -> None:
    caps = session_capabilities(BIN, PROFILE, None)
    assert caps == {"browserName": "chrome", "pageLoadStrategy": "normal",
                    "goog:chromeOptions": {"binary": str(BIN),
                                           "args": [*BASE_ARGS, f"--user-data-dir={PROFILE}"]}}


@pytest.mark.parametrize("taken", ["goog:chromeOptions", "browserName"])
def test_capabilities_that_would_replace_ours_are_refused_before_anything_starts(
        taken: str) -> None:
    with pytest.raises(ValueError, match="pass Chromium flags as args"):
        session_capabilities(BIN, PROFILE, None, capabilities={taken: {}})
    with pytest.raises(ValueError, match=taken), start_browser(capabilities={taken: {}}):
        pass  # pragma: no cover - never reached


@pytest.mark.slow
def test_a_flag_reaches_the_browser() -> None:
    with chromium(user_agent=None, args=["--user-agent=EngineProbe/1.0"]) as browser:
        assert browser.execute("return navigator.userAgent") == "EngineProbe/1.0"
