"""Hostile templates (RELIABILITY 6.7 T-T1..T-T3): sandbox escapes, secret exfiltration and
resource exhaustion fail that one message with a TemplateError naming the file and line, and the
next message renders as usual. Templates see plain data only (invariant I9)."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Callable
from pathlib import Path

import jinja2
import pytest
from packaging.version import Version

from engine.mail import sandbox
from engine.mail.errors import TemplateError
from engine.mail.render import MailJob, Renderer
from tests.engine.mail.conftest import SECRET, ja_lead, page, settings

CANARY = b"canary-secret-7f3a"

ESCAPES = [  # T-T1
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ lead.__class__.__init__.__globals__ }}",
    "{{ greeting.__class__ }}",
    "{{ ''.format.__globals__ }}",
    "{{ '{0.__class__}'.format(lead) }}",
    "{{ 'a'.format_map(lead) }}",
    "{% set f = ''.format %}{{ f('{0.__class__}', 1) }}",
    "{{ format_date.__globals__ }}",
    "{{ (lead|attr('__class__')) }}",
    "{{ lead._values }}",
    "{{ range.__globals__ }}",
]
RESOURCES = [  # T-T3
    "{{ 'x' * 10**9 }}",
    "{{ 9**(9**9) }}",
    "{{ 10 ** 100000 }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(30000) %}.{% endfor %}",
    "{{ 'x'.center(100000000) }}",
    "{{ 'x'.ljust(10**8) }}",
    "{{ '%0999999999d' % 1 }}",
    "{% set a = 'x' * 900000 %}{{ a ~ a }}",
    "{% set a = 'x' * 900000 %}{% set b %}{{ a }}{{ a }}{% endset %}{{ b }}",
    "{{ ('x' * 900000) + ('y' * 900000) }}",
    "{{ ['x' * 900000, 'y' * 900000]|join }}",
    "{{ ('a' * 1000)|replace('a', 'b' * 5000) }}",
    "{% macro d(s) %}{{ s }}{{ s }}{% endmacro %}"
    "{{ d(d(d(d(d(d(d(d(d(d(d(d(d(d(d(d(d(d(d(d(d('x'))))))))))))))))))))) }}",
    "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
]


def test_jinja_is_a_fixed_version() -> None:
    assert Version(jinja2.__version__) >= Version("3.1.6")  # CVE-2024-56326, CVE-2025-27516


@pytest.fixture
def make(library: Callable[[dict[str, str]], Path]) -> Callable[[str], Renderer]:
    def build(payload: str) -> Renderer:
        content = "<p>{{ greeting }}</p>\n<p>before</p>\n" + payload + "\n<p>after</p>"
        root = library({"ja/evil/payload.html": page(content),
                        "ja/good/hello.html": page("<p>{{ greeting }}</p>", "こんにちは")})
        return Renderer(settings(secret=CANARY.decode()), CANARY, root)

    return build


def send(r: Renderer, template: str) -> bytes:
    return r.message(MailJob(template, ja_lead(), "f", "s", outbox_id=5)).data


@pytest.mark.parametrize("payload", ESCAPES + RESOURCES)
def test_hostile_payload_fails_that_message_only(make: Callable[[str], Renderer],
                                                 payload: str) -> None:
    r = make(payload)
    started = time.monotonic()
    with pytest.raises(TemplateError) as info:
        send(r, "evil/payload.html")
    assert time.monotonic() - started < 2.5
    message = str(info.value)
    # the template's own file and the line of the payload (6: after the block and two lines)
    assert message.startswith(str(r.library.root / "ja" / "evil" / "payload.html") + ":6: "), \
        message
    assert CANARY.decode() not in message
    good = email.message_from_bytes(send(r, "good/hello.html"), policy=email.policy.default)
    assert good["Subject"] == "こんにちは"  # the next message is unaffected


@pytest.mark.parametrize("payload", ["{{ config }}", "{{ settings }}", "{{ env }}",
                                     "{{ request }}", "{{ secret }}", "{{ self }}",
                                     "{{ lipsum }}", "{{ cycler }}", "{{ namespace }}",
                                     "{{ renderer }}", "{{ os }}", "{{ environ }}",
                                     "{{ lead }}{{ owner }}{{ sender }}{{ org }}"])
def test_nothing_but_plain_data_is_visible(make: Callable[[str], Renderer],
                                           payload: str) -> None:
    data = send(make(payload), "evil/payload.html")
    assert CANARY not in data
    r = make(payload)
    html = r.render(MailJob("evil/payload.html", ja_lead(), "f", "s")).html
    assert CANARY.decode() not in html and "Settings(" not in html


def test_a_slow_template_is_stopped_at_the_deadline(make: Callable[[str], Renderer],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "RENDER_SECONDS", 0.3)
    # 2**22 macro calls: quick to write, minutes to run without a deadline
    payload = ("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
               "{{ f(22) }}")
    r = make(payload)
    started = time.monotonic()
    with pytest.raises(TemplateError, match="took too long"):
        send(r, "evil/payload.html")
    assert time.monotonic() - started < 2.0


def test_errors_in_blocks_and_layouts_name_their_file(
        library: Callable[[dict[str, str]], Path]) -> None:
    root = library({"ja/evil/subject.html": '{% extends "_layout.html" %}\n'
                                            "{% block subject %}\n{{ ''.__class__ }}\n"
                                            "{% endblock %}{% block content %}x{% endblock %}",
                    "ja/evil/syntax.html": page("<p>{% if %}</p>"),
                    "ja/evil/filter.html": page("<p>{{ 'x'|format(1) }}</p>")})
    r = Renderer(settings(), SECRET, root)
    with pytest.raises(TemplateError) as info:
        send(r, "evil/subject.html")
    assert str(info.value).startswith(f"{root}/ja/evil/subject.html:3: ")
    with pytest.raises(TemplateError) as info:
        send(r, "evil/syntax.html")
    assert str(info.value).startswith(f"{root}/ja/evil/syntax.html:4: ")
    with pytest.raises(TemplateError, match="No filter named 'format'"):
        send(r, "evil/filter.html")


def test_a_template_that_cannot_be_prepared_fails_fast_every_time(
        library: Callable[[dict[str, str]], Path]) -> None:
    root = library({"ja/evil/syntax.html": page("<p>{% if %}</p>")})
    r = Renderer(settings(), SECRET, root)
    messages = []
    for _ in range(3):
        with pytest.raises(TemplateError) as info:
            send(r, "evil/syntax.html")
        messages.append(str(info.value))
    assert len(set(messages)) == 1 and ":4: " in messages[0]
