"""Benchmark: `engine check` over 1,000 generated flow files (target: under 2 s on 2 cores).

Run: .venv/bin/python bench/check_bench.py [N] [--repeat R] [--against DIR] [--breakdown]
Prints a markdown table for docs/benchmarks.md. Times are wall-clock medians of R runs of the
real command in a subprocess (start-up included, as a user or CI would see it), with the CPU
time the process used (less sensitive than wall time to other jobs on a shared machine), beside
two baselines measured in the same script: the interpreter starting and importing the CLI, and
reading and decoding every file (the floor for any checker).

``--against DIR`` also runs the command from another source tree (say, an earlier revision:
``git archive REV | tar -x -C DIR``), interleaved with this one, so both see the same machine
load; the ratio is the number to trust on a shared machine. ``--breakdown`` measures the CPU
time of each phase inside one process (median of R, for both trees when ``--against`` is
given): importing, reading and parsing, each checker pass, the template checks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gen_flows import generate  # noqa: E402

# Runs inside a fresh interpreter (cwd: the source tree to measure); prints one JSON object of
# CPU seconds per phase. The cycle collector is off when that tree's `engine check` turns it off.
PHASES = r"""
import gc, json, sys, time
if sys.argv[2] == "off":
    gc.disable()
clock = time.process_time
t0 = clock()
import engine.cli
t1 = clock()
from dsl.check import PASSES, Context
from engine.workspace import find_templates, load, template_names
ws = load([sys.argv[1]], check=False)
t2 = clock()
found = find_templates(ws.roots, None)
ctx = Context(templates=template_names(found) if found else None)
out = {"import the CLI": t1 - t0, "read and parse": t2 - t1}
passes = clock()
for p in PASSES:
    a = clock()
    p(ws.modules, ctx)
    out["pass " + p.__name__.removeprefix("check_")] = clock() - a
out["checker passes"] = clock() - passes
a = clock()
try:
    from engine.cli.check import template_diagnostics
except ImportError:
    pass
else:
    template_diagnostics(ws, None)
    out["template checks"] = clock() - a
print(json.dumps(out))
"""


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str], cwd: Path, ok_codes: tuple[int, ...] = (0,)) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the process, its standard output)."""
    cpu = cpu_of_children()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    took = time.perf_counter() - start
    if proc.returncode not in ok_codes:
        raise SystemExit(f"{cmd} exited {proc.returncode}:\n{proc.stdout[-2000:]}"
                         f"{proc.stderr[-2000:]}")
    return took, cpu_of_children() - cpu, proc.stdout


def wall(cmd: list[str], repeat: int, cwd: Path = ROOT) -> float:
    return statistics.median(run(cmd, cwd)[0] for _ in range(repeat))


def collector(tree: Path) -> str:
    """Whether that tree's `engine check` turns the cycle collector off."""
    source = (tree / "engine" / "cli" / "check.py").read_text(encoding="utf-8")
    return "off" if "gc.disable()" in source else "on"


def breakdown(folder: Path, repeat: int, trees: list[Path]) -> list[dict[str, float]]:
    """CPU seconds per phase for each tree, runs interleaved, medians."""
    runs: list[list[dict[str, float]]] = [[] for _ in trees]
    for _ in range(repeat):
        for k, tree in enumerate(trees):
            cmd = [sys.executable, "-c", PHASES, str(folder), collector(tree)]
            runs[k].append(json.loads(run(cmd, tree)[2]))
    return [{key: statistics.median(r.get(key, 0.0) for r in tree_runs)
             for key in tree_runs[0]} for tree_runs in runs]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--against", type=Path, metavar="DIR",
                    help="another source tree to time the same command from, interleaved")
    ap.add_argument("--breakdown", action="store_true", help="time the phases in one process")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "flows"
        generate(folder, args.n)
        lines = sum(p.read_text().count("\n") for p in folder.glob("*.flow"))
        py = sys.executable
        check = [py, "-m", "engine", "check", str(folder)]
        startup = wall([py, "-c", "import engine.cli"], args.repeat)
        read = wall([py, "-c", "import pathlib,sys; [p.read_bytes().decode('utf-8') for p in "
                     "pathlib.Path(sys.argv[1]).rglob('*.flow')]", str(folder)], args.repeat)
        mine: list[tuple[float, float, str]] = []
        theirs: list[tuple[float, float, str]] = []
        for _ in range(args.repeat):
            mine.append(run(check, ROOT))
            if args.against is not None:
                theirs.append(run(check, args.against.resolve()))
        took = statistics.median(t for t, _, _ in mine)
        cpu = statistics.median(c for _, c, _ in mine)
        print("| files | lines | start-up + import | read all files | engine check | "
              "its CPU time | check / start-up |")
        print("|---|---|---|---|---|---|---|")
        print(f"| {args.n} | {lines} | {startup:.3f} s | {read:.3f} s | **{took:.3f} s** | "
              f"{cpu:.3f} s | {took / startup:.1f}x |")
        print(f"\nruns: {', '.join(f'{t:.2f}' for t, _, _ in mine)} s; load average "
              f"{os.getloadavg()[0]:.1f}")
        if theirs:
            other = statistics.median(t for t, _, _ in theirs)
            other_cpu = statistics.median(c for _, c, _ in theirs)
            print(f"\nagainst {args.against}: {other:.3f} s, CPU {other_cpu:.3f} s (runs: "
                  f"{', '.join(f'{t:.2f}' for t, _, _ in theirs)} s); this tree takes "
                  f"{took / other:.2f}x its time ({cpu / other_cpu:.2f}x its CPU time)")
        if args.breakdown:
            trees = [ROOT] + ([args.against.resolve()] if args.against is not None else [])
            found = breakdown(folder, args.repeat, trees)
            head = " | ".join(["CPU seconds in one process, median", "this tree",
                               *(["--against"] if len(trees) > 1 else [])])
            print(f"\n| {head} |\n|{'---|' * (len(trees) + 1)}")
            for name in found[0]:
                cells = " | ".join(f"{f.get(name, 0.0):.3f}" for f in found)
                print(f"| {name} | {cells} |")
        verdict = "meets" if took < 2.0 else "MISSES"
        print(f"\n{verdict} the 2 s target ({took:.2f} s).")


if __name__ == "__main__":
    main()
