"""Generate a folder of realistic flow files for the `engine check` benchmark.

Deterministic (seeded): the same N gives the same files, so runs are comparable.
Usage: python bench/gen_flows.py OUT_DIR [N]
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

SHARED = '''# Shared definitions for the generated benchmark flows.
attributes:
    renewal_date: date
    stage: text one of ("lead", "mql", "sql", "opportunity", "negotiation", "customer",
                        "recycle", "dormant", "churned")

tier size from employees:
    smb         2 to 99
    midsize     100 to 499
    enterprise  500 and above

score interest:
    +5  per email click
    +10 per page view on "/pricing*"
    +20 per seminar attended
    half-life 30 days

priority handoff:
    1: size is enterprise
    2: size is midsize
    3: otherwise

policy:
    at most 2 emails per lead per 7 days
    never email when stage in ("opportunity", "negotiation")
    require consent

team inside_sales:
    email "inside-sales@example.com"
'''

INDUSTRIES = ["manufacturing", "trading", "software", "retail", "logistics", "finance", "media"]
TOPICS = ["/pricing*", "/cases/*", "/products/erp*", "/blog/dx*", "/seminar/*", "/docs/*"]
DAYS = ["weekday", "day", "monday", "tuesday, thursday", "friday"]


def flow_text(i: int, rng: random.Random) -> str:
    industry = rng.choice(INDUSTRIES)
    topic = rng.choice(TOPICS)
    n = rng.randint(2, 8)
    hour = rng.randint(8, 17)
    lines = [
        f"# Generated flow {i}: {industry} leads interested in {topic}",
        f'flow bench_{i} "Benchmark flow {i}":',
        f'    schedule every {rng.choice(DAYS)} at {hour:02d}:{rng.choice([0, 15, 30, 45]):02d} '
        '"Asia/Tokyo"',
        # each flow owns a band of company sizes, so audiences are exclusive (as a real folder
        # of flows would be) and the overlap check has to prove it for every pair
        f"    enter when employees >= {10 * i} and employees < {10 * i + 10} and "
        f'industry is "{industry}" and at least {n} page views on "{topic}" '
        f"in last {rng.choice([30, 60, 90])} days",
        '    exit when stage in ("opportunity", "negotiation", "churned")',
        f"    goal when interest >= {rng.choice([30, 40, 50])}",
        f"    re-enter after {rng.choice([90, 180, 365])} days",
        "",
        '    send intro "bench/intro.html" from owner or "marketing@example.com"',
        f"    wait {rng.randint(2, 10)} days",
        "    if clicked intro:",
        f'        wait until visited "{topic}" or {rng.randint(2, 5)} days',
        '        send deep "bench/deep.html"',
        f"    else if interest >= {rng.choice([10, 20, 30])}:",
        '        send nudge "bench/nudge.html"',
        "    else:",
        '        add tag "cold"',
        "    repeat every 30 days until goal, at most 6 times:",
        '        send series next of ("bench/case1.html", "bench/case2.html", "bench/case3.html")',
        "    on goal:",
        "        handoff to inside_sales by handoff priority, at most 40 per day",
        '        notify owner "bench/alert.txt"',
    ]
    return "\n".join(lines) + "\n"


# The templates the flows use, valid for `engine check` (engine/mail/check.py): marketing mail
# extends the repository's layout (unsubscribe link, sender and postal address in its footer).
LAYOUT = Path(__file__).resolve().parent.parent / "templates" / "ja" / "_layout.html"
EMAIL = """{%% extends "_layout.html" %%}
{%% block subject %%}Benchmark: %s{%% endblock %%}
{%% block content %%}
<p>{{ greeting }}</p>
<p>%s</p>
{%% endblock %%}
"""
ALERT = """{% block subject %}Benchmark alert: {{ lead.company }}{% endblock %}
{{ lead.company }} / {{ lead.last_name }} <{{ lead.email }}>
"""


def generate(out: Path, n: int) -> list[Path]:
    rng = random.Random(20261123)
    out.mkdir(parents=True, exist_ok=True)
    (out / "shared.flow").write_text(SHARED, encoding="utf-8")
    paths = []
    for i in range(n - 1):
        p = out / f"flow_{i:04d}.flow"
        p.write_text(flow_text(i, rng), encoding="utf-8")
        paths.append(p)
    tdir = out.parent / "templates" / "ja" / "bench"
    tdir.mkdir(parents=True, exist_ok=True)
    (tdir.parent / "_layout.html").write_text(LAYOUT.read_text(encoding="utf-8"),
                                             encoding="utf-8")
    for name in ("intro", "deep", "nudge", "case1", "case2", "case3"):
        (tdir / f"{name}.html").write_text(EMAIL % (name, name), encoding="utf-8")
    (tdir / "alert.txt").write_text(ALERT, encoding="utf-8")
    return paths


if __name__ == "__main__":
    generate(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1000)
