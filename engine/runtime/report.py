"""Plans for people: a summary table, Markdown for a pull request, and the diff of two plans
(`engine plan --against REF`). Pure functions of plan JSON."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

SAMPLE = 5  # recipients shown per step in tables and Markdown


def key(action: dict[str, Any]) -> tuple[str, str, str]:
    return action["flow"], action.get("step") or "-", action["action"]


def grouped(actions: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for a in actions:
        out[key(a)].append(a)
    return dict(sorted(out.items()))


def status_counts(items: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for a in items:
        counts[a.get("status", "done")] += 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def reasons(actions: list[dict[str, Any]]) -> list[tuple[str, int]]:
    counts: dict[str, int] = defaultdict(int)
    for a in actions:
        if a.get("reason") and a.get("status") in ("deferred", "suppressed", "cancelled"):
            counts[f"{a['status']}: {a['reason']}"] += 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def markdown(plan: dict[str, Any]) -> str:
    actions = plan["actions"]
    lines = [f"## Plan at {plan['at']}", ""]
    if not actions:
        return "\n".join([*lines, "Nothing to do: no flow has work at this moment.", ""])
    lines += ["| flow | step | action | leads | outcome | template | sample |",
              "|---|---|---|---:|---|---|---|"]
    for (flow, step, action), items in grouped(actions).items():
        templates = sorted({a.get("template") or a.get("team") or "" for a in items} - {""})
        sample = ", ".join(md(a.get("email") or "") for a in items[:3])
        more = f" +{len(items) - 3}" if len(items) > 3 else ""
        lines.append(f"| {md(flow)} | `{md(step)}` | {action} | {len(items)} | "
                     f"{status_counts(items)} | {md(', '.join(templates))} | {sample}{more} |")
    for s in plan.get("stranded", []):
        lines += ["", f"> **{s['enrollments']} live enrollment(s)** of `{md(s['flow'])}` sit at "
                  f"step `{md(s['step'])}`, which this change removes: they go to "
                  f"`{md(s['goes_to'])}`."]
    held = reasons(actions)
    if held:
        lines += ["", "### Held back by the policy gate", "", "| reason | leads |", "|---|---:|"]
        lines += [f"| {md(r)} | {n} |" for r, n in held]
    subjects = {(a["template"], a.get("subject")) for a in actions
                if a["action"] == "send" and a.get("subject")}
    if subjects:
        lines += ["", "### Subjects (first recipient)", ""]
        seen: set[str] = set()
        for template, subject in sorted(subjects):
            if template not in seen:
                seen.add(template)
                lines.append(f"- `{md(template)}`: {md(subject or '')}")
    lines.append("")
    return "\n".join(lines)


def md(text: str) -> str:
    """Text safe inside a Markdown table cell (lead data is hostile until proven otherwise)."""
    return (str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
            .replace("<", "&lt;").replace(">", "&gt;"))


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Per (flow, step, action): leads added and removed, and templates that changed."""
    def index(plan: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, str | None]]:
        out: dict[tuple[str, str, str], dict[str, str | None]] = defaultdict(dict)
        for a in plan["actions"]:
            out[key(a)][a.get("email") or ""] = a.get("template")
        return out

    old, new = index(before), index(after)
    changes = []
    for k in sorted(set(old) | set(new)):
        o, n = old.get(k, {}), new.get(k, {})
        added = sorted(set(n) - set(o))
        removed = sorted(set(o) - set(n))
        retemplated = sorted(e for e in set(o) & set(n) if o[e] != n[e])
        if added or removed or retemplated:
            changes.append({"flow": k[0], "step": k[1], "action": k[2], "added": added,
                            "removed": removed, "template_changed": retemplated,
                            "before": len(o), "after": len(n)})
    return {"at": after["at"], "changes": changes}


def diff_markdown(d: dict[str, Any], ref: str) -> str:
    lines = [f"## Plan change against `{md(ref)}` at {d['at']}", ""]
    if not d["changes"]:
        return "\n".join([*lines, "No change: the same leads get the same actions.", ""])
    lines += ["| flow | step | action | before | after | added | removed | template changed |",
              "|---|---|---|---:|---:|---:|---:|---:|"]
    for c in d["changes"]:
        lines.append(f"| {md(c['flow'])} | `{md(c['step'])}` | {c['action']} | {c['before']} | "
                     f"{c['after']} | {len(c['added'])} | {len(c['removed'])} | "
                     f"{len(c['template_changed'])} |")
    lines.append("")
    return "\n".join(lines)
