"""Jinja code survives the HTML tools: tokens in text, tables, attributes, comments and raw-text
elements come back as the same code, and the source map points at the line it was written on."""

from __future__ import annotations

import css_inline

from engine.mail.protect import SourceMap, Table, escape_literals, protect, restore, tokens_in

SOURCE = """<!doctype html>
<html><head><title>{{ title }}</title><style>p { color: red; }</style></head>
<body>
<!-- a comment with {{ inside_comment }} -->
<table>
{% for row in rows %}
<tr><td class="{{ row.kind }}" {% if row.wide %}colspan="2"{% endif %}>{{ row.text }}</td></tr>
{% endfor %}
</table>
<p title='{{ single }}'>{{ multi
   + line }} {# dropped #}</p>
{% raw %}{{ not code }}{% endraw %}
</body></html>
"""


def test_constructs_survive_css_inlining_in_place() -> None:
    table = Table()
    protected = protect(SOURCE, "t.html", table)
    assert "{{" not in protected.replace("{{ not code }}", "")
    inlined = css_inline.CSSInliner(keep_at_rules=True).inline(protected)
    assert tokens_in(inlined) == tokens_in(protected)  # none dropped, moved or copied
    restored, _ = restore(inlined, table)
    for code in ("{{ title }}", "{% for row in rows %}", '"{{ row.kind }}"',
                 '{% if row.wide %}colspan="2"{% endif %}', "{{ row.text }}", "{% endfor %}",
                 "'{{ single }}'", "{{ multi\n   + line }}", "{{ inside_comment }}",
                 "{% raw %}{{ not code }}{% endraw %}"):
        assert code in restored or code.replace("'", '"') in restored, code
    assert "dropped" not in restored
    assert restored.index("{% for row in rows %}") < restored.index("<tr>") \
        < restored.index("{% endfor %}") < restored.index("</table>")


def test_structural_tags_stay() -> None:
    src = ('{% extends "_layout.html" %}{% block content %}<p>{{ x }}</p>'
           "{{ super() }}{% endblock %}{% include 'a.html' %}")
    table = Table()
    out = protect(src, "c.html", table)
    for kept in ('{% extends "_layout.html" %}', "{% block content %}", "{{ super() }}",
                 "{% endblock %}", "{% include 'a.html' %}"):
        assert kept in out
    assert [c.text for c in table.items] == ["{{ x }}"]


def test_source_map_points_at_the_original_line() -> None:
    table = Table()
    protected = protect(SOURCE, "t.html", table)
    restored, smap = restore(protected, table)
    lines = restored.splitlines()
    at = next(n for n, line in enumerate(lines, 1) if "{{ row.text }}" in line)
    assert smap.origin(at) == ("t.html", 7)
    multi = next(n for n, line in enumerate(lines, 1) if "+ line }}" in line)
    assert smap.origin(multi) == ("t.html", 11)
    assert SourceMap().origin(3) == ("", 0)


def test_literal_braces_from_entities_stay_text() -> None:
    assert escape_literals("a {{ b {% c {# d } e") == \
        'a {{ "{" }}{ b {{ "{" }}% c {{ "{" }}# d } e'
