"""A large import streams: peak Python memory does not grow with the number of rows (T-I8)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from engine.imports import import_file
from engine.store import db


def generate(path: Path, rows: int) -> None:
    """A CRM-like export, written line by line (the test itself must not hold it)."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("email,company,従業員数,title,stage,phone,updated_at\n")
        for i in range(rows):
            bad = "300-500" if i % 10_000 == 7 else f"{i % 5000:,}名"
            fh.write(f"user{i}@example{i % 97}.co.jp,株式会社テスト{i % 1000},\"{bad}\",部長,"
                     f"lead,03-{i:08d},2025-04-01 09:00\n")


def peak_mib(url: str, path: Path) -> tuple[float, int]:
    engine = db.connect(url)
    try:
        tracemalloc.start()
        report = import_file(engine, "leads", path, skip_invalid=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        engine.dispose()
    report.close()
    return peak / 2**20, report.inserted


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_row_count(tmp_path: Path) -> None:
    small, large = 30_000, 150_000
    generate(tmp_path / "small.csv", small)
    generate(tmp_path / "large.csv", large)
    peak_small, n_small = peak_mib(f"sqlite:///{tmp_path}/small.db", tmp_path / "small.csv")
    peak_large, n_large = peak_mib(f"sqlite:///{tmp_path}/large.db", tmp_path / "large.csv")
    assert (n_small, n_large) == (small - 3, large - 15)  # the "300-500" rows are rejected
    assert peak_large < 64, f"{peak_large:.1f} MiB"
    assert peak_large < peak_small * 1.25 + 2, (peak_small, peak_large)
