"""A real headless Chromium for tests, driven over the W3C WebDriver protocol by chromedriver.

    with chromium() as browser:              # skips (or fails in CI) without the binaries
        browser.get("http://127.0.0.1:8000/")
        browser.title, browser.current_url, browser.cookies()
        browser.execute("return document.cookie")
        browser.click("a#next")
    with chromium(args=["--lang=en"], capabilities={"acceptInsecureCerts": True}) as browser:
        ...                                  # extra Chromium flags and W3C capabilities

The binaries are Debian's ``chromium`` and ``chromium-driver`` (.ci/run installs them when
missing), or $CHROMIUM_BIN / $CHROMEDRIVER. The protocol is plain JSON over HTTP, spoken here with
httpx (already an engine dependency), so no Selenium is needed. Each browser gets its own
temporary profile (cookies start empty) and runs as root with ``--no-sandbox`` (CI is root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.pg import free_port, in_ci

T = TypeVar("T")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "/usr/lib/chromium/chromium")
DRIVERS = ("chromedriver", "/usr/lib/chromium/chromedriver")
# An ordinary desktop Chrome: HeadlessChrome's own agent is (rightly) taken for a machine by
# the tracking server.
DESKTOP_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/131.0.0.0 Safari/537.36")
# A quiet browser for tests: headless, as root in CI, and nothing fetched behind the test's back
# (updates, sync, component downloads), so a test reaches only the servers it started.
BASE_ARGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--disable-sync", "--mute-audio",
             "--disable-component-update")
# Capabilities start_browser sets itself: Chromium's options carry the binary and the profile,
# which a caller's value would silently replace (extra flags go in ``args``).
_OWN_CAPABILITIES = frozenset({"browserName", "goog:chromeOptions"})


class BrowserUnavailable(RuntimeError):
    """No Chromium or no chromedriver on this machine."""


def _which(names: tuple[str, ...], env: str) -> Path | None:
    if os.environ.get(env):
        path = Path(os.environ[env])
        return path if path.is_file() else None
    for name in names:
        found = shutil.which(name) if "/" not in name else (name if Path(name).is_file() else None)
        if found:
            return Path(found)
    return None


def find_binaries() -> tuple[Path, Path]:
    """(Chromium, chromedriver), or :class:`BrowserUnavailable` saying what is missing."""
    browser, driver = _which(BROWSERS, "CHROMIUM_BIN"), _which(DRIVERS, "CHROMEDRIVER")
    if browser is None or driver is None:
        missing = " and ".join(n for n, p in (("chromium", browser), ("chromedriver", driver))
                               if p is None)
        raise BrowserUnavailable(f"{missing} not found (Debian: apt-get install chromium "
                                 "chromium-driver; or set CHROMIUM_BIN / CHROMEDRIVER)")
    return browser, driver


class WebDriverError(RuntimeError):
    pass


@dataclass
class Browser:
    http: httpx.Client
    session: str

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"/session/{self.session}{path}", json=body)
        value = response.json().get("value")
        if response.status_code != 200:
            raise WebDriverError(f"{method} {path}: {value}")
        return value

    def get(self, url: str) -> None:
        """Navigate and wait for the page's load event."""
        self._call("POST", "/url", {"url": url})

    @property
    def current_url(self) -> str:
        return str(self._call("GET", "/url"))

    @property
    def title(self) -> str:
        return str(self._call("GET", "/title"))

    def execute(self, script: str, *args: Any) -> Any:
        """Run ``script`` (a function body: ``return ...``) in the page."""
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def cookies(self) -> dict[str, str]:
        return {c["name"]: c["value"] for c in self._call("GET", "/cookie")}

    def click(self, css: str) -> None:
        found = self._call("POST", "/element", {"using": "css selector", "value": css})
        element = next(iter(found.values()))
        self._call("POST", f"/element/{element}/click", {})


def wait_for(check: Callable[[], T], timeout: float = 10.0, every: float = 0.05) -> T:
    """The first truthy result of ``check()``; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still {result!r} after {timeout} s")
        time.sleep(every)


def session_capabilities(browser_bin: Path, profile: Path, user_agent: str | None,
                         args: Sequence[str] = (),
                         capabilities: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The W3C capabilities of a new session: ours, then the caller's ``capabilities`` (say
    ``acceptInsecureCerts``), with the caller's ``args`` after the base Chromium flags."""
    extra = _caller_capabilities(capabilities)
    flags = [*BASE_ARGS, f"--user-data-dir={profile}"]
    if user_agent:
        flags.append(f"--user-agent={user_agent}")
    flags.extend(args)
    return {"browserName": "chrome", "pageLoadStrategy": "normal", **extra,
            "goog:chromeOptions": {"binary": str(browser_bin), "args": flags}}


def _caller_capabilities(capabilities: Mapping[str, Any] | None) -> dict[str, Any]:
    extra = dict(capabilities or {})
    taken = sorted(_OWN_CAPABILITIES & set(extra))
    if taken:
        raise ValueError(f"start_browser sets {', '.join(taken)} itself: pass Chromium flags "
                         "as args")
    return extra


@contextmanager
def start_browser(user_agent: str | None = DESKTOP_AGENT, timeout: float = 30.0,
                  args: Sequence[str] = (),
                  capabilities: Mapping[str, Any] | None = None) -> Iterator[Browser]:
    """A headless Chromium with a fresh profile; :class:`BrowserUnavailable` without one.
    ``args`` are extra Chromium flags, ``capabilities`` extra W3C session capabilities."""
    _caller_capabilities(capabilities)  # a mistake fails here, before anything is started
    browser_bin, driver_bin = find_binaries()
    port = free_port()
    profile = Path(tempfile.mkdtemp(prefix="engine-chromium-"))
    wanted = session_capabilities(browser_bin, profile, user_agent, args, capabilities)
    driver = subprocess.Popen([str(driver_bin), f"--port={port}", "--silent"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=timeout)
    session = None
    try:
        wait_for(lambda: _ready(http), timeout=timeout, every=0.05)
        created = http.post("/session", json={"capabilities": {"alwaysMatch": wanted}})
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


def _ready(http: httpx.Client) -> bool:
    try:
        return bool(http.get("/status").json()["value"]["ready"])
    except (httpx.HTTPError, ValueError, KeyError):
        return False


@contextmanager
def chromium(user_agent: str | None = DESKTOP_AGENT, args: Sequence[str] = (),
             capabilities: Mapping[str, Any] | None = None) -> Iterator[Browser]:
    """For tests: the browser, or skip when there is none (fail instead when CI is set)."""
    import pytest

    try:
        cm = start_browser(user_agent, args=args, capabilities=capabilities)
        browser = cm.__enter__()
    except BrowserUnavailable as exc:
        if in_ci():
            pytest.fail(f"a browser is required when CI is set: {exc}", pytrace=False)
        pytest.skip(str(exc))
    try:
        yield browser
    finally:
        cm.__exit__(None, None, None)
