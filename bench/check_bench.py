"""Benchmark: `engine check` over 1,000 generated flow files (target: under 2 s on 2 cores).

Run: .venv/bin/python bench/check_bench.py [N] [--repeat R]
Prints a markdown table for docs/benchmarks.md. Times are wall-clock medians of R runs of the
real command in a subprocess (start-up included, as a user or CI would see it), beside two
baselines measured in the same script: the interpreter starting and importing the CLI, and
reading and decoding every file (the floor for any checker).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gen_flows import generate  # noqa: E402


def wall(cmd: list[str], repeat: int, ok_codes: tuple[int, ...] = (0,)) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode not in ok_codes:
            raise SystemExit(f"{cmd} exited {proc.returncode}:\n{proc.stdout[-2000:]}"
                             f"{proc.stderr[-2000:]}")
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "flows"
        generate(folder, args.n)
        lines = sum(p.read_text().count("\n") for p in folder.glob("*.flow"))
        py = sys.executable
        startup = wall([py, "-c", "import engine.cli"], args.repeat)
        read = wall([py, "-c", "import pathlib,sys; [p.read_bytes().decode('utf-8') for p in "
                     "pathlib.Path(sys.argv[1]).rglob('*.flow')]", str(folder)], args.repeat)
        check = wall([py, "-m", "engine", "check", str(folder)], args.repeat)
        print("| files | lines | start-up + import | read all files | engine check | "
              "check / start-up |")
        print("|---|---|---|---|---|---|")
        print(f"| {args.n} | {lines} | {startup:.3f} s | {read:.3f} s | **{check:.3f} s** | "
              f"{check / startup:.1f}x |")
        verdict = "meets" if check < 2.0 else "MISSES"
        print(f"\n{verdict} the 2 s target ({check:.2f} s).")


if __name__ == "__main__":
    main()
