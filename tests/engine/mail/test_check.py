"""`engine check` on the templates the flows use: syntax and unknown names with file:line:col,
the unsubscribe link and the legal footer for marketing email (not for internal alerts), and
the example flows with their real templates are clean."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from tests.engine.mail.conftest import ROOT, TEMPLATES

FLOW = """attributes:
    renewal_date: date

score interest:
    +3 per email click

flow demo "Demo":
    schedule every day at 09:00 "Asia/Tokyo"
    enter when stage is "lead"
    send intro "demo/intro.html"
    notify owner "alerts/ping.txt"
"""
GOOD_PAGE = """{% extends "_layout.html" %}
{% block subject %}{{ lead.company }} 様へ{% endblock %}
{% block content %}
<p>{{ greeting }} {{ format_date(lead.renewal_date) }} {{ scores.interest }}</p>
{% for x in [1, 2] %}{{ loop.index }}{{ x }}{% endfor %}
{% set note = owner.name or org.name %}{{ note }}
{% endblock %}
"""
GOOD_ALERT = """{% extends "_notification.txt" %}
{% block subject %}ping {{ lead.email }}{% endblock %}
{% block body %}{{ lead_url }}{% endblock %}
"""


def project(tmp_path: Path, page: str = GOOD_PAGE, alert: str = GOOD_ALERT,
            flow: str = FLOW, extra: dict[str, str] | None = None) -> Path:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "demo.flow").write_text(flow, encoding="utf-8")
    for lang in ("ja", "en"):
        (tmp_path / "templates" / lang).mkdir(parents=True)
        for layout in ("_layout.html", "_notification.txt"):
            shutil.copy(TEMPLATES / lang / layout, tmp_path / "templates" / lang / layout)
    files = {"ja/demo/intro.html": page, "ja/alerts/ping.txt": alert, **(extra or {})}
    for name, text in files.items():
        path = tmp_path / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def check(where: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.chdir(where)
    result = CliRunner().invoke(main, ["check", "flows", *args])
    return result.exit_code, result.stdout + result.stderr


def test_the_example_flows_and_their_templates_are_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = check(ROOT, monkeypatch)
    assert code == 0, out
    assert "no problems" in out


def test_a_good_template_and_an_alert_without_unsubscribe_link_pass(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = check(project(tmp_path), monkeypatch)
    assert code == 0, out


def test_unknown_names_and_attributes_with_positions(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    page = GOOD_PAGE.replace("{{ greeting }}", "{{ lead.compnay }} {{ company }} "
                             "{{ scores.interst }} {{ owner.phone }} {{ config }}")
    alert = GOOD_ALERT.replace("{{ lead_url }}", "{{ unsubscribe_url }}")
    code, out = check(project(tmp_path, page, alert), monkeypatch)
    assert code == 1
    assert "templates/ja/demo/intro.html:4:12: error[E0503]: `lead` has no attribute `compnay`" \
        in out
    assert "hint: did you mean `company`?" in out
    assert "templates/ja/demo/intro.html:4:26: error[E0502]: unknown name `company`" in out
    assert "hint: did you mean `lead.company`?" in out
    assert "`scores` has no attribute `interst`" in out and "did you mean `interest`?" in out
    assert "`owner` has no attribute `phone`" in out
    assert "unknown name `config`" in out
    # an internal alert has no unsubscribe URL to use
    assert "templates/ja/alerts/ping.txt:3:" in out and "unknown name `unsubscribe_url`" in out
    assert "   4 | <p>{{ lead.compnay }}" in out  # the line is shown, with a caret


def test_json_output_has_template_positions(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    page = GOOD_PAGE.replace("{{ greeting }}", "{{ lead.compnay }}")
    code, out = check(project(tmp_path, page), monkeypatch, "--format", "json")
    found = json.loads(out[:out.rindex("]") + 1])
    assert code == 1
    assert [(d["file"], d["line"], d["column"], d["code"]) for d in found] == [
        ("templates/ja/demo/intro.html", 4, 12, "E0503")]


@pytest.mark.parametrize(("page", "expected"), [
    (GOOD_PAGE.replace("{{ greeting }}", "{% if %}"),
     "templates/ja/demo/intro.html:4:1: error[E0501]: Expected an expression"),
    (GOOD_PAGE.replace("{{ greeting }}", "{{ greeting|format(1) }}"),
     "error[E0501]: No filter named 'format'"),
    ("<html><body><p>{{ greeting }}</p>{% block subject %}x{% endblock %}"
     "<p>{{ org.name }} {{ org.postal_address }}</p></body></html>",
     "templates/ja/demo/intro.html:1:1: error[E0504]: a marketing email without an "
     "unsubscribe link"),
    ('<p>{% block subject %}x{% endblock %}<a href="{{ unsubscribe_url }}">stop</a></p>',
     "error[E0505]: a marketing email must show the sender's name and postal address"),
    (GOOD_PAGE.replace("{% block subject %}{{ lead.company }} 様へ{% endblock %}", ""),
     "error[E0506]: the template has no subject"),
    (GOOD_PAGE.replace("{{ greeting }}", "x</p {{ greeting }}><p>"),
     "error[E0507]: cannot prepare this template for sending: the HTML around "
     "`{{ greeting }}` is malformed: an HTML parser drops it"),
    (GOOD_PAGE.replace("<p>{{ greeting }}", '<b class="{{ greeting }}"><p>x</b>y'),
     "an HTML parser moves or copies it"),
    ("{% set x = 1 %}\n" + GOOD_PAGE,
     "templates/ja/demo/intro.html:1:1: error[E0508]: code outside any block"),
], ids=["syntax", "filter", "no-unsubscribe", "no-footer", "no-subject", "dropped", "copied",
        "outside-blocks"])
def test_template_mistakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str,
                           expected: str) -> None:
    code, out = check(project(tmp_path, page), monkeypatch)
    assert code == 1
    assert expected in out, out


def test_a_syntax_error_in_the_layout_is_reported_once_at_the_layout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, extra={"ja/demo/other.html": GOOD_PAGE})
    layout = root / "templates" / "ja" / "_layout.html"
    layout.write_text(layout.read_text(encoding="utf-8").replace(
        "{% block content %}", "{% block content %}{% endif %}"), encoding="utf-8")
    flow = FLOW.replace('    notify owner', '    send other "demo/other.html"\n    notify owner')
    (root / "flows" / "demo.flow").write_text(flow, encoding="utf-8")
    code, out = check(root, monkeypatch)
    assert code == 1
    assert out.count("error[E0501]") == 1
    assert "templates/ja/_layout.html:" in out


def test_send_needs_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flow = FLOW.replace('send intro "demo/intro.html"', 'send intro "alerts/ping.txt"')
    code, out = check(project(tmp_path, flow=flow), monkeypatch)
    assert code == 1
    assert "error[E0509]: `send` needs an HTML template" in out


def test_every_language_folder_is_checked(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bad = GOOD_PAGE.replace("{{ greeting }}", "{{ lead.compnay }}")
    code, out = check(project(tmp_path, extra={"en/demo/intro.html": bad}), monkeypatch)
    assert code == 1
    assert "templates/en/demo/intro.html:4:" in out
    assert "templates/ja/demo/intro.html" not in out
