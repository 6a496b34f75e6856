"""The fleet benchmark runs end to end in quick mode and reports every figure (not timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_fleet_benchmark_reports_each_library(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--suite", "fleet", "--quick", "--out",
         str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((tmp_path / "fleet-quick.json").read_text())
    rows = {row["mode"]: row for row in data["rows"]}
    assert set(rows) == {"gameapi_async", "cashews", "aiocache"}
    ours = rows["gameapi_async"]
    assert ours["fetches"] == 1
    assert ours["failures"] == 0
    assert ours["commands_per_warm_hit"] == 0
    assert ours["takeover_s"] is not None  # taken over within the cap
    for row in rows.values():
        assert row["callers"] == 100
        assert row["read_10k_us"] > 0
    assert "| gameapi_async | 100 | 1 | 0 |" in (tmp_path / "fleet-quick.md").read_text()
