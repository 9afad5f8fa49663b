"""`engine graph`: golden charts, and every chart is structurally valid Mermaid."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.graph import escape, node_id, render_module
from engine.workspace import load
from tests.golden import CASES, assert_golden

REPO = Path(__file__).resolve().parents[2]
GRAPH_CASES = CASES / "graph"
FLOWS = REPO / "flows"

NODE = re.compile(r'^(?P<id>[A-Za-z0-9_]+)(?P<open>\(\[|\[\[|\[/|\{\{|\[|\{|>)"(?P<label>[^"]*)"'
                  r'(?P<close>\]\)|\]\]|\\\]|\}\}|\]|\})(:::[a-z]+)?$')
EDGE = re.compile(r'^(?P<src>[A-Za-z0-9_]+) (-->|-\.->)(\|"(?P<label>[^"]*)"\|)? '
                  r"(?P<dst>[A-Za-z0-9_]+)$")
SUBGRAPH = re.compile(r'^subgraph (?P<id>[A-Za-z0-9_]+)\["[^"]*"\]$')
PAIRS = {"([": "])", "[[": "]]", "[/": "\\]", "{{": "}}", "[": "]", "{": "}", ">": "]"}


def chart(path: Path, siblings: bool = True) -> str:
    ws = load([str(path)], check=False, siblings=siblings)
    module = ws.modules[0] if not siblings else ws.module(ws.targets[0])
    assert module is not None, ws.diagnostics
    return render_module(module, [m for m in ws.modules if m is not module])


def structure(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Parse our Mermaid subset strictly: every line must be a known statement. Returns the
    nodes (id -> label) and the edges, and asserts the structure is sound."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert sum(1 for line in lines if line.strip().startswith("flowchart")) == 1
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    groups: list[str] = []
    depth = 0
    for line in lines[1:]:
        s = line.strip()
        if m := NODE.match(s):
            assert m["id"] not in nodes, f"node {m['id']} declared twice"
            assert PAIRS[m["open"]] == m["close"], s
            nodes[m["id"]] = m["label"]
        elif m := EDGE.match(s):
            edges.append((m["src"], m["dst"]))
        elif m := SUBGRAPH.match(s):
            groups.append(m["id"])
            depth += 1
        elif s == "end":
            depth -= 1
            assert depth >= 0, "`end` without a subgraph"
        elif not (s == "direction TD" or s.startswith(("classDef ", "%% "))):
            raise AssertionError(f"not a statement of our Mermaid subset: {line!r}")
    assert depth == 0, "a subgraph is not closed"
    assert not set(groups) & set(nodes), "a subgraph id is also a node id"
    assert len(groups) == len(set(groups))
    for src, dst in edges:
        assert src in nodes and dst in nodes, f"edge {src} --> {dst} to an undeclared node"
    return nodes, edges


def reachable_from_entries(nodes: dict[str, str], edges: list[tuple[str, str]]) -> set[str]:
    out: dict[str, list[str]] = defaultdict(list)
    for src, dst in edges:
        out[src].append(dst)
    seen = {n for n in nodes if n.endswith("__enter")}
    todo = list(seen)
    while todo:
        for nxt in out[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


# ------------------------------------------------------------------ goldens


@pytest.mark.parametrize("name", ["kitchen_sink", "edge_cases"])
def test_golden_cases(name: str) -> None:
    text = chart(GRAPH_CASES / f"{name}.flow", siblings=False)
    assert_golden(text, GRAPH_CASES / f"{name}.mmd")


def test_golden_revive_dormant_with_folder_definitions() -> None:
    """The shipped flow, labelled with segment and team titles from flows/shared.flow."""
    text = chart(FLOWS / "revive_dormant.flow")
    assert "dormant_customer: Dormant customer" in text  # a segment title from shared.flow
    assert_golden(text, GRAPH_CASES / "revive_dormant.mmd")


# ------------------------------------------------------------------ structure

ALL = sorted(GRAPH_CASES.glob("*.flow")) + sorted(p for p in FLOWS.glob("*.flow")
                                                  if p.name != "shared.flow")


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_chart_is_structurally_valid(path: Path) -> None:
    text = chart(path, siblings=path.parent == FLOWS)
    nodes, edges = structure(text)
    assert reachable_from_entries(nodes, edges) == set(nodes), "a node no edge leads to"
    assert chart(path, siblings=path.parent == FLOWS) == text, "not deterministic"


def test_every_construct_has_its_shape() -> None:
    text = chart(GRAPH_CASES / "kitchen_sink.flow", siblings=False)
    nodes, edges = structure(text)
    assert text.count("subgraph ") == 2  # the flow, and its `on goal`
    labels = " ".join(nodes.values())
    for words in ("enter when", "exit when", "goal reached", "wait 7 days",
                  "wait until renewal_date - 90 days", "wait until visited", "split subject",
                  "repeat every 30 days", "handoff to inside_sales", "notify owner",
                  "end of flow", "set stage to"):
        assert words in labels, words
    assert '-->|"a 45%"|' in text and '-->|"control 10% (holdout: gets nothing)"|' in text
    assert '-->|"yes"|' in text and '-->|"no"|' in text
    assert '-->|"after 3 days"|' in text  # the timeout edge of `wait until ... or 3 days`
    assert re.search(r'-->\|"next round in 30 days"\| \w+__s\d+\n', text)  # the loop edge


def test_labels_are_escaped() -> None:
    assert escape('say "hi" #1 <b>&') == "say #quot;hi#quot; #35;1 #lt;b#gt;#amp;"
    assert escape("a\nb") == "a b"
    text = chart(GRAPH_CASES / "edge_cases.flow", siblings=False)
    nodes, _ = structure(text)
    assert all('"' not in label for label in nodes.values())
    assert "日本語" in text  # Japanese stays as it is inside quoted labels


def test_node_ids_are_ascii_and_stable() -> None:
    assert node_id("再訪", "enter") == "_x518d_x8a2a__enter"
    assert node_id("revive_dormant", "step_intro") == "revive_dormant__step_intro"


# ------------------------------------------------------------------ the command


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_command_prints_raw_mermaid() -> None:
    code, out, _ = run("graph", str(FLOWS / "two_axis_mql.flow"))
    assert code == 0
    assert out.startswith("flowchart TD\n")
    structure(out)


def test_command_fenced_for_a_pull_request() -> None:
    code, out, _ = run("graph", "--fenced", str(FLOWS / "two_axis_mql.flow"))
    assert code == 0
    assert out.startswith("```mermaid\nflowchart TD\n") and out.endswith("\n```\n")


def test_command_refuses_a_file_without_flows() -> None:
    code, _, err = run("graph", str(FLOWS / "shared.flow"))
    assert code == 2 and "defines no flow" in err


def test_command_reports_syntax_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.flow").write_text("flow x:\n    send intro\n", encoding="utf-8")
    code, out, _ = run("graph", str(tmp_path / "bad.flow"))
    assert code == 1 and "error[" in out


def test_command_refuses_a_folder() -> None:
    code, _, err = run("graph", str(FLOWS))
    assert code == 2 and "one flow file" in err
