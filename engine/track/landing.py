"""Where a click lands: the stored link, plus the visitor token and UTM parameters for the site.

Pure functions. The target is always a link of the sent message (outbox.payload["links"]);
nothing from the request ever becomes part of it (invariant I10). It is checked once more here
(``http`` / ``https``, a host, no whitespace or control characters), so a bad link that slipped
into a payload gets a 404, never a redirect to ``javascript:`` or ``//evil``.

The visitor token (``_nv``) and UTM parameters go only to links into the customer's own site
(``site_origins``): a third-party page must not learn which lead clicked, and must not get our
campaign names. An existing ``_nv`` in the link is replaced; existing ``utm_*`` are kept.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote_plus, urlencode, urlsplit, urlunsplit

VISITOR_PARAM = "_nv"
MAX_LINK = 4096
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]")


def safe_link(link: object) -> str | None:
    """The link if it may be redirected to, else None."""
    if not isinstance(link, str) or not link or len(link) > MAX_LINK or _UNSAFE.search(link):
        return None
    try:
        parts = urlsplit(link)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    if "\\" in parts.netloc or "@" in parts.netloc:
        return None  # user-info and backslashes are how redirect checks get confused
    return link


def origin_of(url: str) -> str:
    """``https://www.example.co.jp:443/x`` -> ``https://www.example.co.jp`` (lower-case,
    default port dropped), the form ``site_origins`` are written in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


def on_site(url: str, site_origins: tuple[str, ...]) -> bool:
    try:
        return origin_of(url) in site_origins
    except ValueError:
        return False


def landing_url(link: str, site_origins: tuple[str, ...], visitor_token: str | None,
                utm: list[tuple[str, str]]) -> str:
    """The URL to redirect to: ``link``, with ``_nv`` and UTM parameters when it is on site."""
    if not on_site(link, site_origins):
        return link
    parts = urlsplit(link)
    kept = _drop_visitor_token(parts.query)
    present = {_key(item) for item in kept}
    added = [(k, v) for k, v in utm if k not in present]
    if visitor_token:
        added.append((VISITOR_PARAM, visitor_token))
    query = "&".join([*kept, urlencode(added)] if added else kept)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _key(item: str) -> str:
    return unquote_plus(item.partition("=")[0])


def _drop_visitor_token(query: str) -> list[str]:
    """The query's items as written (their encoding untouched), without ``_nv``."""
    return [item for item in query.split("&") if item and _key(item) != VISITOR_PARAM]


def page_path(url: str) -> str:
    """What ``events.url`` holds for a page view: the path, as flows match it (``/pricing*``)."""
    return urlsplit(url).path or "/"


def without_visitor_token(url: str) -> str:
    """The page URL as stored: no visitor token (it identifies the lead), no fragment."""
    parts = urlsplit(url)
    query = "&".join(_drop_visitor_token(parts.query))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def without_query(url: str) -> str:
    """A referrer as stored: origin and path only (its query may hold search terms or ids)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


_URL_SAFE = "!#$%&'()*+,-./:;=?@[]~_"


def ascii_url(url: str) -> str:
    """The URL as an HTTP header can carry it: an internationalised host in IDNA (``xn--``),
    other non-ASCII characters percent-encoded as UTF-8; ASCII is left exactly as it was."""
    if url.isascii():
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        ascii_host = quote(host, safe="")
    netloc = ascii_host if ":" not in host else f"[{host}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, quote(parts.path, safe=_URL_SAFE),
                       quote(parts.query, safe=_URL_SAFE), quote(parts.fragment, safe=_URL_SAFE)))
