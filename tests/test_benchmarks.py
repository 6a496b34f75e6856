"""The benchmark suite runs end to end in quick mode and writes sane reports (not timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_benchmarks_write_complete_reports(tmp_path: Path) -> None:
    pytest.importorskip("httpx", reason="the benchmark extra is not installed")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads((tmp_path / "quick.json").read_text())
    assert {"overhead", "cached_list_games", "stampede", "catalogue", "memory", "meta"} <= set(data)
    modes = {row["mode"] for row in data["overhead"]}
    assert {"raw aiohttp", "gameapi_async"} <= modes
    for row in data["overhead"]:
        assert row["cpu_us_per_request"] > 0
        assert row["throughput_rps"] > 0
    assert data["stampede"]["upstream_requests"] == 1
    assert data["stampede"]["all_same_list"] is True
    assert data["cached_list_games"]["hits"] >= data["cached_list_games"]["calls"]
    assert [row["games"] for row in data["catalogue"]] == [1_000, 10_000]
    assert data["memory"]["peak_rss_mib"] >= data["memory"]["baseline_rss_mib"] > 0
    table = (tmp_path / "quick.md").read_text()
    assert "| concurrency | mode |" in table
    assert "Cold stampede" in table


@pytest.mark.slow
def test_the_telemetry_benchmark_pairs_each_mode_with_the_client_without() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.telemetry", "--quick", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(result.stdout)
    paths = {(row["transport"], row["mode"]) for row in rows}
    for transport in ("loopback", "in-process"):
        assert {(transport, "no telemetry"), (transport, "Telemetry(), no SDK"),
                (transport, "Telemetry(SDK)")} <= paths
    assert {("cache hit", "no telemetry"), ("cache hit", "Telemetry(), no SDK")} <= paths
    for row in rows:
        assert row["cpu_us_per_call"] > 0
        assert row["ratio_min"] <= row["ratio_to_no_telemetry"] <= row["ratio_max"]
        if row["mode"] == "no telemetry":
            assert row["ratio_to_no_telemetry"] == 1.0
