"""`engine explain EMAIL [PATH] [--db URL] [--at T]`: why did (or didn't) this lead get the email?

For each flow: whether the lead meets its entry, exit and goal conditions (and the policy's
`never email when` rules), every sub-condition true / false with the values it read, and each
score broken down into the events that made it (event, time, weight, decay factor). Then the
mail policy's view of the lead at T: the suppressions on its address, consent, what the policy
gate would do with an email due now and why, and how much of each cap is used."""

from __future__ import annotations

import datetime as dt
import sys
from typing import TYPE_CHECKING, Any

import click

from engine.cli.common import console, guarded
from engine.cli.db import DB_OPTION, store_errors
from engine.cli.query import load_definitions, parse_time
from engine.workspace import UsageError

if TYPE_CHECKING:
    from rich.tree import Tree

    from engine.conditions.explain import FlowExplanation, Node
    from engine.conditions.scores import Breakdown
    from engine.runtime.gate import LeadPolicy


@click.command()
@click.argument("email")
@click.argument("path", default="flows")
@DB_OPTION
@click.option("--at", "at_text", metavar="TIME", default=None,
              help="explain as of this moment (default: now), e.g. 2026-11-23T09:00+09:00")
@click.option("--flow", "only", metavar="NAME", default=None, help="explain this flow only")
@click.option("--format", "fmt_", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for people, json for machines")
def explain(email: str, path: str, db_url: str | None, at_text: str | None, only: str | None,
            fmt_: str) -> None:
    """Explain, for the lead with this EMAIL, each flow's entry, exit and goal conditions, using
    the flows in PATH (default: flows/).

    Every sub-condition is shown true or false with the actual values, and every score with the
    events that made it. Exit 0 when explained, 1 when there is no lead with this email, 2 on a
    usage or database error.
    """

    def body() -> int:
        import sqlalchemy as sa

        from engine.conditions.explain import explain_flow, score_breakdown
        from engine.conditions.rows import load_lead
        from engine.runtime.gate import lead_policy
        from engine.runtime.model import Folder
        from engine.store import db as store
        from engine.store.emails import normalise_email
        from engine.store.schema import leads

        at = parse_time(at_text)
        _modules, ctx = load_definitions(path)
        flows = list(ctx.symbols.flows.values())
        if only is not None:
            flows = [f for f in flows if f.name == only]
            if not flows:
                raise UsageError(f"no flow named {only!r} in {path}")
        address = normalise_email(email)
        with store_errors():
            engine = store.connect(db_url)
            try:
                with engine.connect() as conn:
                    lead_id = conn.scalar(sa.select(leads.c.id).where(leads.c.email == address))
                    if lead_id is None:
                        click.echo(f"engine: no lead with email {address}", err=True)
                        return 1
                    lead, events = load_lead(conn, lead_id, ctx)
                    history = lead_history(conn, lead_id, {f.name for f in flows})
                    policy = lead_policy(conn, Folder(ctx.symbols), lead_id, at)
            finally:
                engine.dispose()
        explained = [explain_flow(f, lead, events, at, ctx) for f in flows]
        scores = {name: score_breakdown(name, lead, events, at, ctx)
                  for name in scores_of(explained)}
        if fmt_ == "json":
            print_json(address, lead_id, at, explained, scores, history, policy)
        else:
            print_text(address, lead_id, at, explained, scores, history, policy)
        return 0

    sys.exit(guarded(body))


def lead_history(conn: Any, lead_id: int, flows: set[str]) -> list[dict[str, Any]]:
    """What the runtime did with this lead and why: the journal of its enrollments (entered,
    branches, waits, exits, goals) and each email's outcome (sent, deferred or blocked, with
    the policy gate's reason)."""
    import sqlalchemy as sa

    from engine.store.schema import journal, outbox

    out: list[dict[str, Any]] = []
    for r in conn.execute(sa.select(journal).where(journal.c.lead_id == lead_id)
                          .order_by(journal.c.id)):
        if r.flow in flows:
            out.append({"at": r.at.isoformat(), "flow": r.flow, "step": r.step,
                        "event": r.event, **(r.details or {})})
    for r in conn.execute(sa.select(outbox).where(outbox.c.lead_id == lead_id)
                          .order_by(outbox.c.id)):
        if r.flow in flows:
            out.append({"at": r.updated_at.isoformat(), "flow": r.flow, "step": r.step,
                        "event": f"{r.action} {r.status}", "template": r.template,
                        **({"reason": r.reason} if r.reason else {})})
    return sorted(out, key=lambda h: h["at"])


def scores_of(explained: list[FlowExplanation]) -> list[str]:
    from engine.conditions.explain import scores_read

    out: dict[str, None] = {}
    for fe in explained:
        for section in fe.sections:
            out.update(dict.fromkeys(scores_read(section.node)))
    return list(out)


# ---------------------------------------------------------------- text


def mark(value: bool) -> str:
    return "[green]true[/green] " if value else "[red]false[/red]"


def tree_of(label: str, node: Node, parent: Tree | None = None) -> Tree:
    from rich.markup import escape
    from rich.tree import Tree

    text = f"{mark(node.value)} {escape(label)}{escape(node.text)}"
    if node.facts:
        text += "  [dim]" + escape("; ".join(node.facts[:1])) + "[/dim]"
    branch = parent.add(text) if parent is not None else Tree(text)
    for fact in node.facts[1:]:
        branch.add("[dim]" + escape(fact) + "[/dim]")
    for child in node.children:
        tree_of("", child, branch)
    return branch


def score_table(b: Breakdown) -> Any:
    from rich.table import Table

    from dsl import ast as A
    from dsl import formatter
    from engine.conditions.explain import event_label, show_time

    h = b.options.half_life
    title = f"score {b.score.name} = {b.total:.4g}"
    if b.capped:
        title += f" (capped at {b.options.cap:g}; {b.subtotal:.4g} before the cap)"
    if h is not None:
        title += f", half-life {formatter.duration(h)}"
    table = Table("line", "event", "time", "weight", "decay", "points", title=title,
                  title_justify="left")
    for c in b.contributions:
        rule = c.line
        line = formatter.points(rule.points) + (
            f" per {formatter.event(rule.event)}" if isinstance(rule, A.EventPoints)
            else f" when {formatter.condition(rule.condition)}")
        if c.event is not None:
            event = event_label(c.event)
            table.add_row(line, event, show_time(c.event.at), f"{c.points:g}",
                          f"{c.decay:.4f}", f"{c.value:.4g}")
        else:
            table.add_row(line, "true" if c.held else "false", "", f"{c.points:g}", "",
                          f"{c.value:.4g}")
    if not b.contributions:
        table.add_row("(no line applies)", "", "", "", "", "0")
    return table


def print_text(address: str, lead_id: int, at: dt.datetime, explained: list[FlowExplanation],
               scores: dict[str, Breakdown], history: list[dict[str, Any]],
               policy: LeadPolicy) -> None:
    from rich.markup import escape

    out = console()
    out.print(f"Lead {escape(address)} (id {lead_id}) at {at.isoformat(timespec='seconds')}",
              highlight=False)
    for fe in explained:
        title = f' "{fe.title}"' if fe.title else ""
        root = tree_of_flow(f"flow {fe.flow}{title}")
        for section in fe.sections:
            tree_of(f"{section.label}: ", section.node, root)
        out.print(root, highlight=False)
    for b in scores.values():
        out.print(score_table(b), highlight=False)
    out.print(policy_tree(policy), highlight=False)
    if history:
        out.print("[bold]History[/bold] (what the engine did, and why)", highlight=False)
        for h in history:
            detail = ", ".join(f"{k}={v}" for k, v in h.items()
                               if k not in ("at", "flow", "step", "event"))
            out.print(f"  {h['at'][:19]}  {escape(h['flow'])}  {escape(h['step'] or '-')}  "
                      f"{escape(h['event'])}  [dim]{escape(detail)}[/dim]", highlight=False)


def tree_of_flow(label: str) -> Tree:
    from rich.markup import escape
    from rich.tree import Tree

    return Tree(f"[bold]{escape(label)}[/bold]")


def policy_tree(policy: LeadPolicy) -> Tree:
    from rich.markup import escape

    root = tree_of_flow("mail policy")
    if policy.suppressions:
        for sup in policy.suppressions:
            where = ", ".join(str(v) for v in (sup["scope"], sup["source"], sup["note"]) if v)
            since = sup["created_at"].isoformat(timespec="seconds")
            root.add(f"[red]suppressed[/red] {escape(sup['reason'])} since {since} "
                     f"[dim]{escape(where)}[/dim]")
    else:
        root.add("no suppression on this address")
    basis = f", legal basis: {policy.legal_basis}" if policy.legal_basis else ""
    root.add(escape(f"consent: {show_consent(policy.consent)}{basis}"))
    v = policy.verdict
    if v.status == "pending":
        now = "[green]may go[/green]"
    elif v.status == "deferred":
        until = v.until.isoformat(timespec="minutes") if v.until else "later"
        now = f"[yellow]deferred[/yellow] until {until}: {escape(v.reason or '')}"
    else:
        now = f"[red]blocked[/red]: {escape(v.reason or '')}"
    root.add(f"an email due now: {now}")
    for cap in policy.caps:
        root.add(escape(f"{cap.rule}: {cap.used} used"))
    return root


def show_consent(consent: bool | None) -> str:
    return "unknown" if consent is None else str(consent).lower()


def policy_json(policy: LeadPolicy) -> dict[str, Any]:
    v = policy.verdict
    return {
        "suppressions": [{**sup, "created_at": sup["created_at"].isoformat()}
                         for sup in policy.suppressions],
        "consent": policy.consent, "legal_basis": policy.legal_basis,
        "email_due_now": {"status": v.status, "reason": v.reason,
                          "until": v.until.isoformat() if v.until else None},
        "caps": [{"rule": c.rule, "used": c.used, "allowed": c.allowed} for c in policy.caps],
    }


def print_json(address: str, lead_id: int, at: dt.datetime, explained: list[FlowExplanation],
               scores: dict[str, Breakdown], history: list[dict[str, Any]],
               policy: LeadPolicy) -> None:
    import json

    from engine.conditions.explain import show_event

    doc = {
        "lead": {"id": lead_id, "email": address}, "at": at.isoformat(),
        "flows": [{"flow": fe.flow, "title": fe.title,
                   "sections": [{"label": s.label, **s.node.to_json()} for s in fe.sections]}
                  for fe in explained],
        "scores": {name: {
            "total": b.total, "subtotal": b.subtotal, "cap": b.options.cap,
            "lines": [{"points": c.points, "value": c.value, "decay": c.decay,
                       "age_days": c.age_days, "held": c.held,
                       "event": show_event(c.event) if c.event else None,
                       "time": c.event.at.isoformat() if c.event else None}
                      for c in b.contributions]} for name, b in scores.items()},
        "history": history,
        "policy": policy_json(policy),
    }
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
