"""Names (E02xx): the symbol table, names defined twice, unknown or misused names, references to
steps, the goal and templates, kinds of events and their filters."""

from __future__ import annotations

import textwrap

import pytest

from dsl import ast as A
from dsl import symbols
from dsl.check import Context, check_modules
from dsl.diagnostics import Diagnostic
from dsl.parser import parse_source

SHARED = """\
attributes:
    renewal_date: date
    stage: text one of ("lead", "mql", "customer")
tier size from employees:
    smb 2 to 99
    enterprise 100 and above
score interest:
    +5 per email click
team inside_sales:
    email "is@example.com"
priority handoff:
    1: size is enterprise
    2: otherwise
"""


def parse(*sources: str) -> list[A.Module]:
    out = []
    for i, src in enumerate(sources):
        module, diags = parse_source(f"f{i}.flow", textwrap.dedent(src))
        assert module is not None and not any(d.is_error for d in diags), diags
        out.append(module)
    return out


def check(*sources: str, templates: frozenset[str] | None = None) -> list[Diagnostic]:
    """Only this module's findings: names and types (E02xx, E03xx)."""
    found = check_modules(parse(*sources), Context(templates))
    return [d for d in found if d.code[:3] in ("E02", "E03")]


def codes(*sources: str, templates: frozenset[str] | None = None) -> list[str]:
    return [d.code for d in check(*sources, templates=templates)]


def flow(*lines: str, head: str = 'enter on form submit where form = "contact"') -> str:
    return "flow f:\n" + "".join(f"    {line}\n" for line in (head, *lines))


def one(*sources: str, templates: frozenset[str] | None = None) -> Diagnostic:
    found = check(*sources, templates=templates)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- the symbol table


def test_symbols_collects_every_kind_with_types_and_spans() -> None:
    src = SHARED + 'segment hot: interest > 10\nevents:\n    webinar registration\n' + flow(
        'send intro "a/intro.html"', "split subject:", "    a 50%:",
        '        send b "a/b.html"', "    control 50%")
    table = symbols.build(parse(src))
    assert table.kind_of("size") == symbols.TIER and table.type_of("size") == symbols.CATEGORY
    assert table.type_of("interest") == "number" and table.type_of("employees") == "number"
    assert table.type_of("renewal_date") == "date" and table.kind_of("hot") == symbols.SEGMENT
    assert table.categories("size") == ("smb", "enterprise")
    assert table.attributes["stage"].literal_values == ("lead", "mql", "customer")
    assert table.attributes["stage"].core and table.span_of("stage").line == 3
    assert table.span_of("employees") == A.NO_SPAN
    assert table.event_kind(("webinar", "registrations")) == "webinar_registration"
    assert table.event_kind(("page", "views")) == "page_view"
    steps = symbols.flow_steps(table.flows["f"])
    assert [(s.name, s.index) for s in steps] == [("intro", 0), ("subject", 1), ("b", 2)]
    assert [type(p).__name__ for p in steps[2].parents] == ["Split", "SplitBranch"]


def test_symbols_first_definition_wins_and_later_ones_are_kept() -> None:
    table = symbols.build(parse("segment a: employees > 1\n", "segment a: employees > 2\n"))
    assert len(table.duplicates) == 1
    dup = table.duplicates[0]
    assert dup.first.span.file == "f0.flow" and dup.later.span.file == "f1.flow"


# ---------------------------------------------------------------- defined twice


def test_duplicate_across_files_notes_the_first() -> None:
    d = one("tier size from employees:\n    smb 1 to 9\n    big 10 and above\n",
            "segment size: employees > 10\n")
    assert d.code == "E0205" and "same name as tier `size`" in d.message
    assert (d.span.file, d.span.line, d.span.column, d.span.end_column) == ("f1.flow", 1, 9, 13)
    assert d.notes == ("the tier is defined at f0.flow:1",)


def test_same_kind_twice_and_core_attribute_names() -> None:
    found = check("team a:\n    email \"x\"\nteam a:\n    email \"y\"\n"
                  "segment company: employees > 1\n")
    assert [d.code for d in found] == ["E0205", "E0205"]
    assert found[0].message == "team `a` is defined twice"
    assert "every lead has" in found[1].message


def test_two_policies_and_retyped_core_attribute() -> None:
    assert codes("policy:\n    require consent\n", "policy:\n    skip public holidays\n") == [
        "E0206"]
    d = one("attributes:\n    employees: text\n")
    assert d.code == "E0207" and d.span.column == 16


def test_duplicate_step_names_including_implicit_ones() -> None:
    found = check(flow('send "a/intro.html"', "wait 1 day", 'send "b/intro.html"',
                       "split intro:", "    x 50%", "    y 50%"))
    assert [d.code for d in found] == ["E0208", "E0208"]
    assert "named after its template" in found[0].notes[1]


def test_event_kind_declared_twice_or_built_in() -> None:
    assert codes("events:\n    page view\n    sales call\n    sales call\n") == ["E0223", "E0223"]


# ---------------------------------------------------------------- names in conditions


@pytest.mark.parametrize("cond, code, needle", [
    ('industy is "x"', "E0201", "did you mean `industry`?"),
    ("employees", "E0202", "employees > 100"),
    ("size is large", "E0203", "smb, enterprise"),
    ("stage is customer", "E0204", '"customer"'),
    ("hot > 3", "E0222", "segment"),
    ("inside_sales", "E0222", "team"),
    ("hto", "E0201", "did you mean `hot`?"),
])
def test_condition_names(cond: str, code: str, needle: str) -> None:
    d = one(SHARED, "segment hot: interest > 10\n", f"segment s: {cond}\n")
    assert d.code == code
    assert needle in d.message + (d.hint or "")
    assert d.span.file == "f2.flow" and d.span.line == 1


def test_unknown_left_name_does_not_also_blame_the_right() -> None:
    assert codes(SHARED, "segment s: sizee is smb\n") == ["E0201"]


def test_booleans_and_other_attributes_on_the_right() -> None:
    assert codes(SHARED, "segment s: consent is true and employees > employees\n") == []


def test_set_targets() -> None:
    found = check(SHARED, flow('set email to "x"', 'set stag to "x"', "set size to smb",
                               'set renewal_date to "2025-01-01"'))
    assert [d.code for d in found] == ["E0221", "E0221", "E0221"]
    assert found[1].hint == "did you mean `stage`?" and found[1].span.column == 9
    assert "tier" in found[2].message


def test_teams_priorities_tier_sources_and_merge_fields() -> None:
    found = check(SHARED, "tier t from headcount:\n    a 1 and above\n",
                  "merge:\n    stage, titel: newest wins\n",
                  flow("handoff to inside by handof priority", 'notify team sales "a.txt"'))
    assert [d.code for d in found] == ["E0219", "E0220", "E0218", "E0217", "E0218"]
    assert found[0].hint == "did you mean `employees`?"
    assert found[1].span.column == 12 and found[1].hint == "did you mean `title`?"
    assert found[3].hint == "did you mean `handoff`?"


# ---------------------------------------------------------------- steps, goal, templates


def test_step_references() -> None:
    found = check(flow('send intro "a.html"', "if clicked intor:", "    exit",
                       "if opened later:", "    exit", 'send later "b.html"',
                       "if clicked intro in last 7 days:", "    exit"))
    assert [d.code for d in found] == ["E0212", "E0213"]
    assert found[0].hint == "did you mean `intro`?"
    assert found[1].notes == ("`later` is defined at f0.flow:8",)


def test_settings_may_name_any_send_of_the_flow() -> None:
    assert codes(flow("exit when clicked later", 'send later "b.html"')) == []


def test_split_is_not_an_email_and_other_flows_are_noted() -> None:
    found = check(flow("split s:", "    a 50%", "    b 50%", "if clicked s:", "    exit"),
                  "flow g:\n    enter on form submit\n    send mine \"x.html\"\n"
                  "    if clicked intro:\n        exit\n",
                  "flow h:\n    enter on form submit\n    send intro \"x.html\"\n")
    assert [d.code for d in found] == ["E0212", "E0212"]
    assert "split" in found[0].message
    assert found[1].notes == ("`intro` is a step of flow `h`; a flow can only refer to its own "
                              "steps",)


def test_step_reference_outside_a_flow() -> None:
    d = one("segment s: clicked intro\n")
    assert d.code == "E0214" and "segment `s`" in d.message


def test_goal_references() -> None:
    assert codes("segment s: goal\n") == ["E0215"]
    assert codes(flow("repeat every 7 days until goal, at most 3 times:",
                      '    send a "a.html"')) == ["E0215"]
    assert codes(flow("on goal:", "    exit")) == ["E0215"]
    assert codes(flow("goal when goal", 'send a "a.html"')) == ["E0215"]
    assert codes(flow("goal when employees > 10", "repeat every 7 days until goal:",
                      '    send a "a.html"', "on goal:", "    exit")) == []


def test_templates_checked_only_when_known() -> None:
    src = flow('send intro "demo/intro.htm"', 'send series next of ("demo/intro.html", "x/y.html")',
               'notify owner "demo/alert.txt"')
    assert codes(src) == []
    found = check(src, templates=frozenset({"demo/intro.html", "demo/alert.txt"}))
    assert [d.code for d in found] == ["E0216", "E0216"]
    assert found[0].hint == "did you mean `demo/intro.html`?"
    assert found[1].span.column == 45 and 'no folder "x/"' in (found[1].hint or "")


# ---------------------------------------------------------------- events


def test_event_kinds_and_filters() -> None:
    found = check("events:\n    sales call\n", "score s:\n"
                  "    +1 per page veiw\n"
                  '    +1 per download on "wp-*"\n'
                  '    +1 per page view to "x"\n'
                  '    +1 per sales calls where name = "x"\n'
                  '    +1 per stage change to "mql" from "lead"\n'
                  '    +1 per email click on "/x*" where utm = "y", url > "a", link = b\n')
    assert [d.code for d in found] == ["E0209", "E0210", "E0210", "E0211", "E0303", "E0204"]
    assert found[0].hint == "did you mean `page view`?"
    assert (found[0].span.column, found[0].span.end_column) == (12, 21)
    assert found[1].hint == 'test a property instead: where asset matches "wp-*"'
    assert found[3].message == "events have no property `utm` that a filter can test"


def test_unknown_name_compared_with_a_number_is_not_a_text() -> None:
    d = one(SHARED, "segment s: employees > intrest\n")
    assert (d.code, d.hint) == ("E0201", "did you mean `interest`?")
