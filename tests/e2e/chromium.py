"""Headless Chromium (tests/browser.py's driver) that reaches chosen host names on loopback.

    with chromium_for({"www.example.co.jp": site.port}) as browser:
        browser.get("https://www.example.co.jp/pricing")     # served by 127.0.0.1:site.port

Chromium's own resolver maps each name to 127.0.0.1 and the port (``--host-resolver-rules``,
as an /etc/hosts entry plus a port would), and the session accepts the test site's self-signed
certificate (``acceptInsecureCerts``). Every other name still fails to resolve: nothing reaches
the network. Each browser has a fresh profile, as tests.browser's does.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.browser import (
    DESKTOP_AGENT,
    Browser,
    BrowserUnavailable,
    _ready,
    find_binaries,
    wait_for,
)
from tests.e2e.loopback import skip_or_fail
from tests.pg import free_port


def chromium_args(profile: Path, hosts: dict[str, int], user_agent: str) -> list[str]:
    rules = ", ".join(f"MAP {name} 127.0.0.1:{port}" for name, port in sorted(hosts.items()))
    return ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-sync", "--mute-audio",
            "--disable-component-update", f"--user-data-dir={profile}",
            f"--host-resolver-rules={rules}", f"--user-agent={user_agent}"]


@contextmanager
def start(hosts: dict[str, int], user_agent: str = DESKTOP_AGENT,
          timeout: float = 30.0) -> Iterator[Browser]:
    """A browser session; :class:`BrowserUnavailable` without Chromium or chromedriver."""
    browser_bin, driver_bin = find_binaries()
    port = free_port()
    profile = Path(tempfile.mkdtemp(prefix="engine-e2e-chromium-"))
    driver = subprocess.Popen([str(driver_bin), f"--port={port}", "--silent"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=timeout)
    session = None
    try:
        wait_for(lambda: _ready(http), timeout=timeout, every=0.05)
        created = http.post("/session", json={"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "pageLoadStrategy": "normal", "acceptInsecureCerts": True,
            "goog:chromeOptions": {"binary": str(browser_bin),
                                   "args": chromium_args(profile, hosts, user_agent)}}}})
        value = created.json().get("value", {})
        if created.status_code != 200:
            reason = str(value.get("message", value)).splitlines()[-1][:300]
            raise BrowserUnavailable(f"chromedriver could not start {browser_bin}: {reason}")
        session = value["sessionId"]
        yield Browser(http, session)
    finally:
        if session is not None:
            try:
                http.delete(f"/session/{session}")
            except httpx.HTTPError:
                pass
        http.close()
        driver.terminate()
        try:
            driver.wait(10)
        except subprocess.TimeoutExpired:
            driver.kill()
            driver.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def chromium_for(hosts: dict[str, int], user_agent: str = DESKTOP_AGENT) -> Iterator[Browser]:
    """For tests: the browser, or skip when there is none (fail instead when CI is set)."""
    try:
        cm = start(hosts, user_agent)
        browser = cm.__enter__()
    except BrowserUnavailable as exc:
        skip_or_fail(str(exc))
    try:
        yield browser
    finally:
        cm.__exit__(None, None, None)
