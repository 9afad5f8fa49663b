"""Tracked links: which links of a template are rewritten (once, when it is prepared), and the
function that numbers them when a message is rendered.

Every ``<a href="http(s)://...">`` becomes ``{{ _track(<the href as an expression>) }}``. At
render time ``_track`` puts the target in the message's link list and returns
``{tracking_url}/c/{click token}/{i}``, ``i`` being the target's index in that list (the delivery
layer stores the list in ``outbox.payload["links"]``; the tracking server redirects only to a
target read from there, invariant I10). The same target twice gets one index, so the text part,
rendered after the HTML from the same links, points at the same numbers.

Left alone: links that are not http(s) (``mailto:``, ``tel:``, ``#top``, relative ones, and
``javascript:`` or ``data:``, which are never made into a redirect), the unsubscribe link
(``{{ unsubscribe_url }}``: it must work without a redirect), and any link marked
``data-notrack`` (the attribute is removed from the sent HTML).
"""

from __future__ import annotations

import html
import re

from markupsafe import Markup

from engine.mail.protect import BARE_TOKEN, Table, token, tokens_in

A_TAG = re.compile(r"<a\s(?:[^>\"']|\"[^\"]*\"|'[^']*')*>", re.I)
ATTRIBUTE = re.compile(r"""\s+([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
BODY_END = re.compile(r"</body\s*>", re.I)
EXPRESSION = re.compile(r"\{\{[-+]?(.*?)[-+]?\}\}", re.S)
UNSUBSCRIBE = re.compile(r"\bunsubscribe_url\b")
NOTRACK = "data-notrack"
TRACK_FUNCTION = "_track"
OPEN_URL = "_open_url"
_UNSAFE_URL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


def _literal(text: str) -> str:
    """A Jinja string literal for ``text`` (escapes that Jinja's lexer reads back exactly)."""
    out = []
    for ch in text:
        if ch in "\"\\" or not (" " <= ch <= "~"):
            out.append(f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _is_web(prefix: str) -> bool | None:
    """True for an http(s) link, False for another kind, None when the scheme is only known at
    render time (the href starts with an expression)."""
    p = prefix.strip().lower()
    if p.startswith(("http://", "https://")):
        return True
    if "https://".startswith(p) or "http://".startswith(p):
        return None
    return False


def href_expression(value: str, table: Table) -> str | None:
    """The Jinja construct that tracks this href, or None to leave it as it is."""
    ids = tokens_in(value)
    if any(UNSUBSCRIBE.search(table[i].text) for i in ids):
        return None
    parts = BARE_TOKEN.split(value)  # literal, id, literal, id, ..., literal
    web = _is_web(html.unescape(parts[0]))
    if web is False or (web is None and not ids):
        return None
    if all(table[i].text.startswith("{{") for i in ids):
        pieces = []
        for n, part in enumerate(parts):
            if n % 2:
                m = EXPRESSION.fullmatch(table[int(part)].text)
                assert m is not None
                pieces.append(f"({m.group(1).strip()})")
            elif part:
                pieces.append(_literal(html.unescape(part)))
        return f"{{{{ {TRACK_FUNCTION}({', '.join(pieces) or chr(34) * 2}) }}}}"
    # Statements inside the href: capture what it renders, then track that.
    inner = "".join(table[int(p)].text if n % 2 else p for n, p in enumerate(parts))
    return f"{{% set __href %}}{inner}{{% endset %}}{{{{ {TRACK_FUNCTION}(__href) }}}}"


def rewrite_links(doc: str, table: Table) -> str:
    """Every trackable ``<a href>`` of a prepared document pointed at ``_track``."""

    def one(m: re.Match[str]) -> str:
        tag = m.group()
        attrs = list(ATTRIBUTE.finditer(tag, 2))
        if any(a.group(1).lower() == NOTRACK for a in attrs):
            kept = "".join(a.group() for a in attrs if a.group(1).lower() != NOTRACK)
            return tag[:attrs[0].start()] + kept + tag[attrs[-1].end():]
        for a in attrs:
            if a.group(1).lower() == "href":
                value = a.group(2) if a.group(2) is not None else (a.group(3) or a.group(4) or "")
                construct = href_expression(value, table)
                if construct is None:
                    return tag
                ids = tokens_in(value)
                origin = table[ids[0]] if ids else None
                i = table.add(construct, origin.file if origin else "",
                              origin.line if origin else 0)
                return f'{tag[:a.start()]} href="{token(i)}"{tag[a.end():]}'
        return tag

    return A_TAG.sub(one, doc)


def has_unsubscribe_link(doc: str, table: Table) -> bool:
    """Whether some ``<a href>`` of the document is the unsubscribe URL."""
    for m in A_TAG.finditer(doc):
        for a in ATTRIBUTE.finditer(m.group(), 2):
            if a.group(1).lower() == "href":
                value = a.group(2) or a.group(3) or a.group(4) or ""
                if any(UNSUBSCRIBE.search(table[i].text) for i in tokens_in(value)):
                    return True
    return False


def add_open_pixel(doc: str, table: Table) -> str:
    i = table.add(f"{{{{ {OPEN_URL} }}}}")
    pixel = (f'<img src="{token(i)}" width="1" height="1" alt="" '
             'style="display:block;width:1px;height:1px;border:0;">')
    ends = list(BODY_END.finditer(doc))
    if not ends:
        return doc + pixel
    at = ends[-1].start()
    return doc[:at] + pixel + doc[at:]


class Tracker:
    """One message's links: ``track(url)`` numbers each http(s) target once."""

    __slots__ = ("base", "links", "_index")

    def __init__(self, base: str) -> None:
        self.base = base  # "{tracking_url}/c/{click token}/"
        self.links: list[str] = []
        self._index: dict[str, int] = {}

    def track(self, *parts: object) -> str:
        """The tracked URL for the link whose href is ``parts`` joined."""
        target = "".join(p.unescape() if isinstance(p, Markup) else str(p)
                         for p in parts).strip()
        if not target.lower().startswith(("http://", "https://")):
            return target
        if _UNSAFE_URL.search(target):
            raise ValueError(f"a link target holds a line break or control character: "
                             f"{target[:80]!r}")
        i = self._index.get(target)
        if i is None:
            i = self._index[target] = len(self.links)
            self.links.append(target)
        return f"{self.base}{i}"
