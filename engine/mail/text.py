"""The plain-text part: html2text of the HTML, with settings fit for reading in a mail client.

:func:`text_of` is the definition: the text part of a message is ``text_of(its HTML part)``.
The renderer does not run it per message (html2text costs more than rendering the template); it
runs it once per template on the prepared source with Jinja constructs protected, and renders
the result per message (engine.mail.prepare). Tests check the two agree.

Content between ``<!--notext-->`` and ``<!--/notext-->`` is left out of the text part (the
layout uses it for the preheader, which only matters in the inbox list).
"""

from __future__ import annotations

import re

import html2text

NOTEXT = re.compile(r"<!--\s*notext\s*-->.*?<!--\s*/notext\s*-->", re.S | re.I)
_TRAILING = re.compile(r"[ \t]+(?=\n)")
_BLANK_RUNS = re.compile(r"\n{3,}")


def _converter() -> html2text.HTML2Text:
    c = html2text.HTML2Text()
    c.body_width = 0  # no wrapping: it would depend on the length of personalised values
    c.ignore_images = True
    c.ignore_tables = True
    c.ignore_emphasis = True
    c.use_automatic_links = False  # "[x](x)" stays so, whatever the values turn out to be
    c.unicode_snob = True
    return c


def tidy(text: str) -> str:
    """No trailing spaces (html2text's markdown line breaks), at most one blank line in a row.
    (Runs per message on the rendered text part: the regular expressions only run when the
    cheap test says there is something to do.)"""
    if " \n" in text or "\t\n" in text:
        text = _TRAILING.sub("", text + "\n")
    if "\n\n\n" in text:
        text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n") + "\n"


def raw_text(html: str) -> str:
    """html2text's text of ``html`` (minus the notext parts), before tidying."""
    return _converter().handle(NOTEXT.sub("", html))


def text_of(html: str) -> str:
    """The text part for an HTML part."""
    return tidy(raw_text(html))
