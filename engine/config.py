"""The engine's settings: `engine.toml` in the working directory, overridden by the environment.

    settings = load_settings()              # ./engine.toml (if any) + ENGINE_* variables
    settings.tracking_url                   # "http://localhost:8080"

Environment variables win over the file, so an operator can keep the file in version control and
the secrets in the environment. Nothing here reads the database; the signing secret, when not
configured, is created once and kept in the store (engine.store.settings.signing_secret).

engine.toml (every key optional):

    tracking_url = "https://t.example.co.jp"
    site_url = "https://www.example.co.jp"      # templates link to {{ site_url }}/pricing
    smtp_url = "smtp://user:pass@relay.internal:587?tls=starttls"
    mail_dir = "mail"
    secret = "..."                              # better: ENGINE_SECRET
    lead_url = "https://crm.example.co.jp/leads?email={email}"   # linked from internal alerts
    [sender]
    name = "Example Corp. Marketing"
    address = "marketing@example.co.jp"
    reply_to = "support@example.co.jp"
    postal_address = "1-2-3 Marunouchi, Chiyoda-ku, Tokyo 100-0005, Japan"
    message_id_domain = "mail.example.co.jp"
    [tracking]
    site_origins = ["https://www.example.co.jp"]
    [owners]                                    # sales reps' names, for `from owner`
    "tanaka.k@example.co.jp" = "田中 健"

Compliance and the relay's reports (docs/delivery.md, docs/tracking.md):

    one_click_unsubscribe = true                # false: no List-Unsubscribe-Post header
    unsubscribe_mailto = "unsubscribe@example.co.jp"   # adds <mailto:...> to List-Unsubscribe
    webhook_secret = "..."                      # better: ENGINE_WEBHOOK_SECRET (/hooks/events)
    [dkim]                                      # sign every message (engine.mail.dkim)
    domain = "example.co.jp"                    # d=, aligned with the From domain
    selector = "nurture2026"                    # s=, the DNS record <selector>._domainkey.<domain>
    key = "/etc/nurture/dkim.pem"               # the PEM private key (RSA)
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CONFIG_FILE = "engine.toml"
DEFAULT_TRACKING_URL = "http://localhost:8080"
DEFAULT_MAIL_DIR = "mail"
DEFAULT_SITE_URL = "https://www.example.co.jp"
WEBHOOK_SECRET_MIN = 16  # characters; a shorter shared secret can be guessed offline
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]"
                     r"([a-z0-9-]{0,61}[a-z0-9])?")
_SELECTOR = re.compile(r"[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9_-]{0,61}"
                       r"[a-z0-9])?)*")
# Only characters that stand in a mailto: URI as they are (no ?, #, % or &: see RFC 6068).
_MAILTO = re.compile(r"[A-Za-z0-9.!$'*+=_~-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
# Characters that cannot stand in a URL as written (RFC 3986 leaves them out); a site URL is put
# in every email's links, so one of these is refused when the settings are read, not per message.
_NOT_IN_URL = frozenset(' "<>\\^`{|}')


class ConfigError(ValueError):
    """engine.toml or an ENGINE_* variable that cannot be used; says which and why."""


@dataclass(frozen=True)
class Sender:
    """Who the mail is from when the flow does not say (and the legally required identity)."""

    name: str = "Example Corp."
    address: str = "marketing@example.co.jp"
    reply_to: str | None = None
    postal_address: str = "1-2-3 Example-cho, Chiyoda-ku, Tokyo 100-0000, Japan"
    message_id_domain: str = "mail.example.co.jp"


@dataclass(frozen=True)
class Dkim:
    """DKIM signing of every outgoing message (engine.mail.dkim): the signing domain (``d=``),
    the selector (``s=``; the public key is published at ``<selector>._domainkey.<domain>``)
    and the PEM file of the private key. The key is read when mail is built, not here.
    ``allow_unaligned``: sign with a ``d=`` that is not the From domain's organisation (DMARC
    then rests on SPF alone); refused by default (RELIABILITY 1.2)."""

    domain: str
    selector: str
    key: Path
    allow_unaligned: bool = False


@dataclass(frozen=True)
class Settings:
    tracking_url: str = DEFAULT_TRACKING_URL
    smtp_url: str | None = None
    mail_dir: Path = Path(DEFAULT_MAIL_DIR)
    secret: str | None = None  # None: the store keeps a generated one
    sender: Sender = field(default_factory=Sender)
    site_origins: tuple[str, ...] = ()
    templates: Path = Path("templates")
    # Display names of owners (sales reps) for mail sent in their name, (address, name) pairs
    # from [owners]; without one, the name shown is the address's local part.
    owners: tuple[tuple[str, str], ...] = ()
    # A link to a lead in the CRM for internal alerts; "{email}" is replaced (URL-encoded).
    lead_url: str | None = None
    # The company's web site, for templates' links ({{ site_url }}/pricing): no trailing slash.
    site_url: str = DEFAULT_SITE_URL
    # RFC 8058: advertise one-click (List-Unsubscribe-Post) only where the POST to the
    # List-Unsubscribe URL unsubscribes at once; false where it sits behind an interstitial or a
    # separate preference centre (such a header would be a false promise).
    one_click_unsubscribe: bool = True
    # RFC 2369 asks for a mailto beside the https URI: <mailto:ADDRESS?subject=unsubscribe>.
    unsubscribe_mailto: str | None = None
    dkim: Dkim | None = None
    # The shared secret the relay or ESP signs its bounce and complaint reports with
    # (engine.track.hooks); None: /hooks/events does not exist (404).
    webhook_secret: str | None = None


def load_settings(path: Path | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``path`` (default ./engine.toml, optional) and the environment."""
    env = os.environ if environ is None else environ
    file = path or Path(env.get("ENGINE_CONFIG", CONFIG_FILE))
    data: dict[str, Any] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: {exc}") from None
    elif path is not None:
        raise ConfigError(f"{file}: no such file")
    sender_data = data.get("sender", {})
    tracking = data.get("tracking", {})
    if not isinstance(sender_data, dict) or not isinstance(tracking, dict):
        raise ConfigError(f"{file}: [sender] and [tracking] must be tables")
    known = {f for f in Sender.__dataclass_fields__}
    unknown = set(sender_data) - known
    if unknown:
        raise ConfigError(f"{file}: unknown key(s) in [sender]: {', '.join(sorted(unknown))}")
    sender = Sender(**{k: str(v) for k, v in sender_data.items()})
    if env.get("ENGINE_SENDER"):
        sender = Sender(**{**sender.__dict__, "address": env["ENGINE_SENDER"]})
    tracking_url = (env.get("ENGINE_TRACKING_URL") or data.get("tracking_url")
                    or DEFAULT_TRACKING_URL).rstrip("/")
    if not tracking_url.startswith(("http://", "https://")):
        raise ConfigError(f"tracking URL {tracking_url!r} must start with http:// or https://")
    owners = _owners(file, data.get("owners", {}))
    origins = tracking.get("site_origins", [])
    if env.get("ENGINE_SITE_ORIGINS"):
        origins = [o.strip() for o in env["ENGINE_SITE_ORIGINS"].split(",") if o.strip()]
    return Settings(
        tracking_url=tracking_url,
        smtp_url=env.get("ENGINE_SMTP_URL") or data.get("smtp_url") or None,
        mail_dir=Path(env.get("ENGINE_MAIL_DIR") or data.get("mail_dir") or DEFAULT_MAIL_DIR),
        secret=env.get("ENGINE_SECRET") or data.get("secret") or None,
        sender=sender,
        site_origins=tuple(str(o).rstrip("/") for o in origins),
        templates=Path(env.get("ENGINE_TEMPLATES") or data.get("templates") or "templates"),
        owners=owners,
        lead_url=_single_line(file, "lead_url",
                              env.get("ENGINE_LEAD_URL") or data.get("lead_url") or None),
        site_url=_site_url(env.get("ENGINE_SITE_URL") or data.get("site_url")
                           or DEFAULT_SITE_URL),
        one_click_unsubscribe=_flag("one_click_unsubscribe",
                                    env.get("ENGINE_ONE_CLICK_UNSUBSCRIBE"),
                                    data.get("one_click_unsubscribe"), True),
        unsubscribe_mailto=_mailto(env.get("ENGINE_UNSUBSCRIBE_MAILTO")
                                   or data.get("unsubscribe_mailto") or None),
        dkim=_dkim(file, data.get("dkim", {}), env),
        webhook_secret=_webhook_secret(env.get("ENGINE_WEBHOOK_SECRET")
                                       or data.get("webhook_secret") or None),
    )


def _flag(key: str, env_value: str | None, file_value: object, default: bool) -> bool:
    """A true/false setting: the environment's text (1/0, true/false, yes/no, on/off) wins over
    the file's boolean."""
    if env_value is not None and env_value.strip():
        text = env_value.strip().lower()
        if text not in _TRUE + _FALSE:
            raise ConfigError(f"ENGINE_{key.upper()}={env_value!r}: expected true or false")
        return text in _TRUE
    if file_value is None:
        return default
    if not isinstance(file_value, bool):
        raise ConfigError(f"{key} must be true or false, not {file_value!r}")
    return file_value


def _mailto(value: object) -> str | None:
    """The unsubscribe mailbox: a plain ASCII address, put in every List-Unsubscribe header."""
    if value is None:
        return None
    text = str(value).strip()
    if not _MAILTO.fullmatch(text) or ".." in text:
        raise ConfigError(f"unsubscribe_mailto {text[:80]!r} must be a plain address such as "
                          "unsubscribe@example.co.jp")
    return text


def _webhook_secret(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    if len(text) < WEBHOOK_SECRET_MIN or any(ch < " " or ch == "\x7f" for ch in text):
        raise ConfigError(f"webhook_secret must be at least {WEBHOOK_SECRET_MIN} characters "
                          "on one line (use 32 or more random ones)")
    return text


def _dkim(file: Path, table: object, env: Mapping[str, str]) -> Dkim | None:
    """``[dkim]`` domain, selector, key (and allow_unaligned), each overridden by
    ENGINE_DKIM_<NAME>: all three or none."""
    if not isinstance(table, dict):
        raise ConfigError(f"{file}: [dkim] must be a table (domain, selector, key)")
    known = {"domain", "selector", "key", "allow_unaligned"}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"{file}: unknown key(s) in [dkim]: {', '.join(sorted(unknown))}")
    values = {name: (env.get(f"ENGINE_DKIM_{name.upper()}") or table.get(name) or None)
              for name in ("domain", "selector", "key")}
    if not any(values.values()):
        return None
    missing = [name for name, v in values.items() if not v]
    if missing:
        raise ConfigError(f"DKIM needs domain, selector and key; missing: {', '.join(missing)} "
                          "([dkim] in engine.toml or ENGINE_DKIM_*)")
    domain = str(values["domain"]).strip().lower().rstrip(".")
    selector = str(values["selector"]).strip().lower()
    if not _DOMAIN.fullmatch(domain):
        raise ConfigError(f"DKIM domain {domain[:80]!r} is not a domain name")
    if not _SELECTOR.fullmatch(selector) or len(selector) > 253:
        raise ConfigError(f"DKIM selector {selector[:80]!r} must be letters, digits, - and _ "
                          "(dot-separated labels)")
    allow = _flag("dkim_allow_unaligned", env.get("ENGINE_DKIM_ALLOW_UNALIGNED"),
                  table.get("allow_unaligned"), False)
    return Dkim(domain, selector, Path(str(values["key"])), allow)


def _site_url(value: object) -> str:
    """The site's base URL as templates use it: ``{{ site_url }}/pricing`` must be an absolute
    http(s) link (only those are tracked), so the value is a scheme and host, optionally a
    path, without a trailing slash, query or fragment (a path appended after them would land
    in the wrong part of the URL)."""
    text = str(value).strip().rstrip("/")
    if not text.lower().startswith(("http://", "https://")):
        raise ConfigError(f"site URL {text!r} must start with http:// or https://")
    if any(ch < " " or ch in _NOT_IN_URL or ch in "\x7f\x85\u2028\u2029" for ch in text):
        raise ConfigError(f"site URL {text!r} contains a space, control or other character "
                          "that cannot stand in a link")
    parts = urlsplit(text)
    if not parts.hostname or "@" in parts.netloc:
        raise ConfigError(f"site URL {text!r} needs a host name (and no user or password)")
    if "?" in text or "#" in text:
        raise ConfigError(f"site URL {text!r} must not have a query or fragment: templates add "
                          "the path and query after it")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigError(f"site URL {text!r} has an invalid port") from None
    return text


def _single_line(file: Path, key: str, value: object) -> str | None:
    """A value that ends up in mail: text without line breaks or control characters."""
    if value is None:
        return None
    text = str(value)
    if any(ch < " " or ch in "\x7f\x85\u2028\u2029" for ch in text):
        raise ConfigError(f"{file}: {key} contains a line break or control character")
    return text


def _owners(file: Path, table: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(table, dict):
        raise ConfigError(f"{file}: [owners] must be a table of address = \"display name\"")
    out = []
    for address, name in table.items():
        if not isinstance(name, str) or "@" not in address:
            raise ConfigError(f"{file}: [owners] {address!r}: expected address = \"name\"")
        out.append((address.strip().lower(), _single_line(file, f"[owners] {address}", name)
                    or ""))
    return tuple(out)
