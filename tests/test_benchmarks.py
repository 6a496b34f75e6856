"""The benchmark suite runs end to end in quick mode and writes sane reports (not timings).

The benchmarks are part of the source tree (and of the sdist), not of the installed package:
this test needs them beside the tests and says so when they are not.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IGNORED = {"__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache", ".venv",
           ".git"}


def tree(root: Path) -> set[Path]:
    """Every file under ``root`` a benchmark run could leave behind, caches aside."""
    found = set()
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if not IGNORED.intersection(relative.parts) and path.is_file():
            found.add(relative)
    return found


@pytest.mark.slow
def test_quick_benchmarks_write_complete_reports_outside_the_checkout() -> None:
    if not (ROOT / "benchmarks" / "__main__.py").exists():
        pytest.skip("the benchmarks are not beside the tests (an installed copy of the tests)")
    before = tree(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    written = [Path(p) for p in re.findall(r"^wrote (.+)$", result.stderr, re.MULTILINE)]
    try:
        assert tree(ROOT) == before  # `python -m benchmarks --quick` leaves no new files
        assert written
        out = written[0].parent
        assert ROOT not in out.parents
        check_reports(out)
    finally:
        if written and ROOT not in written[0].parent.parents:
            shutil.rmtree(written[0].parent, ignore_errors=True)


def check_reports(out: Path) -> None:
    data = json.loads((out / "quick.json").read_text())
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
    callbacks = data["callbacks"]
    assert callbacks["bare_cpu_us_per_request"] > 0
    assert callbacks["handler_cpu_us_per_request"] > 0
    assert callbacks["ratio_min"] <= callbacks["ratio"] <= callbacks["ratio_max"]
    table = (out / "quick.md").read_text()
    assert "| concurrency | mode |" in table
    assert "Cold stampede" in table
    assert "Callback verification" in table


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


@pytest.mark.slow
def test_the_instruction_count_mode_reports_a_per_call_ratio(tmp_path: Path) -> None:
    # valgrind is a test dependency like php and redis-server (.ci/run installs it).
    assert shutil.which("valgrind"), "install valgrind"
    assert shutil.which("callgrind_control"), "install valgrind"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--suite", "instructions", "--quick",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads((tmp_path / "instructions-quick.json").read_text())
    modes = data["modes"]
    assert set(modes) == {"raw aiohttp", "gameapi_async"}
    for row in modes.values():
        # Two children per mode, the second making twice the counted calls: it counts more.
        assert row[f"counted_{2 * data['calls']}_calls"] > row[f"counted_{data['calls']}_calls"]
        assert row["per_call"] > 0
    assert data["ratio"] == round(modes["gameapi_async"]["per_call"]
                                  / modes["raw aiohttp"]["per_call"], 3)
    assert f"{data['ratio']:.3f}x" in result.stdout


@pytest.mark.slow
def test_the_outage_suite_reports_three_configurations_through_an_outage(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--suite", "outage", "--quick", "--out",
         str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads((tmp_path / "outage-quick.json").read_text())
    rows = data["rows"]
    assert [row["config"] for row in rows] == ["today", "in-process", "fleet-shared"]
    for row in rows:  # what was measured, not how well it went: no thresholds here
        assert row["calls"] > 0
        assert row["calls_during_outage"] > 0
        assert row["calls_after_recovery"] > 0
        assert row["upstream_during_outage"] > 0  # the outage really happened to each
        assert 0 <= row["errors_after_recovery"] <= row["calls_after_recovery"]
        assert row["recovery_seconds"] >= 0
        assert row["series"]
        assert sum(row["after_recovery_error_kinds"].values()) == row["errors_after_recovery"]
        after = row["seconds_per_call_after_recovery"]
        assert 0 <= after["p50"] <= after["p99"] <= after["max"]
    table = (tmp_path / "outage-quick.md").read_text()
    assert "| configuration | upstream requests while down |" in table
