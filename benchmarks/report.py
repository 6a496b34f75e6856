"""Writes results as JSON, a Markdown table, and (with matplotlib) a PNG plot."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from .callbacks import markdown as callback_markdown


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "python": platform.python_version(),
            "platform": platform.platform()}


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"Measured {meta['date']} on {meta['machine']['cpus']} CPUs "
        f"({meta['machine']['cpu_model']}), Python {meta['machine']['python']}"
        f"{' (quick mode)' if meta['quick'] else ''}.",
        "",
        "**Client overhead** (`get_game_link`, loopback server in its own process, a fixed "
        f"pool of workers; {results['overhead'][0]['rounds']} rounds, each mode measured "
        "beside raw aiohttp in ABBA slices; CPU and throughput are medians over rounds, the "
        "ratio is the median of the per-round ratios to raw aiohttp, with their range):",
        "",
        "| concurrency | mode | client CPU / request | vs raw aiohttp | range | throughput |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for row in results["overhead"]:
        spread = (
            f"{row['cpu_ratio_min']:.2f}-{row['cpu_ratio_max']:.2f}"
            if "cpu_ratio_min" in row else "-"
        )
        lines.append(
            f"| {row['concurrency']} | {row['mode']} | {row['cpu_us_per_request']} µs | "
            f"{row['cpu_ratio_to_raw_aiohttp']:.2f}x | {spread} | {row['throughput_rps']} req/s |"
        )
    cached, stampede = results["cached_list_games"], results["stampede"]
    lines += [
        "",
        f"**Cached `list_games()`:** {cached['us_per_call']} µs per call.",
        "",
        f"**Cold stampede:** {stampede['callers']} concurrent `list_games()` made "
        f"{stampede['upstream_requests']} upstream request(s) in {stampede['seconds']} s.",
        "",
        "**Catalogue scale** (decipher + structure vs `json.loads` of the same bytes):",
        "",
        "| games | body | json.loads | SDK | ratio |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in results["catalogue"]:
        lines.append(
            f"| {row['games']} | {row['bytes'] / 1e6:.1f} MB | {row['json_loads_ms']} ms | "
            f"{row['sdk_parse_ms']} ms | {row['ratio_to_json_loads']:.2f}x |"
        )
    if "callbacks" in results:
        lines += callback_markdown(results["callbacks"])
    mem = results["memory"]
    lines += [
        "",
        f"**Memory:** peak RSS {mem['peak_rss_mib']} MiB with {mem['in_flight']} calls in "
        f"flight (baseline {mem['baseline_rss_mib']} MiB, "
        f"{mem['peak_over_baseline_kib_per_call']} KiB per call in flight); RSS after "
        f"batches of {mem['batch']} completed calls: "
        f"{', '.join(str(x) for x in mem['rss_after_batches_mib'])} MiB "
        f"({mem['growth_bytes_per_completed_call']} bytes per completed call).",
        "",
    ]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, (cpu_axis, rps_axis) = plt.subplots(1, 2, figsize=(10, 4))
    for mode in sorted({row["mode"] for row in results["overhead"]}):
        rows = [r for r in results["overhead"] if r["mode"] == mode]
        levels = [r["concurrency"] for r in rows]
        cpu_axis.plot(levels, [r["cpu_us_per_request"] for r in rows], marker="o", label=mode)
        rps_axis.plot(levels, [r["throughput_rps"] for r in rows], marker="o", label=mode)
    for axis, title in ((cpu_axis, "client CPU per request (µs)"),
                        (rps_axis, "throughput (requests/s)")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("concurrency")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    cpu_axis.set_yscale("log")
    rps_axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def write(results: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    stem = "quick" if results["meta"]["quick"] else "latest"
    written = [folder / f"{stem}.json", folder / f"{stem}.md"]
    written[0].write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    written[1].write_text(markdown(results), encoding="utf-8")
    if plot(results, folder / f"{stem}.png"):
        written.append(folder / f"{stem}.png")
    return written
