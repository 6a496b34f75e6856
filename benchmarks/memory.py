"""Benchmark 5, in its own interpreter: ``python -m benchmarks.memory IN_FLIGHT``.

Peak RSS (``VmHWM``) with IN_FLIGHT get_game_link calls in flight at once against a server
that holds each answer, then RSS after each of several batches of completed calls: a steady
RSS across batches means no growth per completed call.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from typing import Any

import aiohttp

from gameapi_async import GameApiClient

from .clients import PARAMS, TOKEN
from .server import BenchServer


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


async def measure(in_flight: int) -> dict[str, Any]:
    with BenchServer() as server:
        async with aiohttp.ClientSession() as control:
            await control.post(server.url + "/_control", json={"delay": 0.5})
            baseline = _status_kib("VmRSS")
            async with GameApiClient(base_url=server.url, agent_id=1, api_token=TOKEN,
                                     timeout=60) as client:
                await asyncio.gather(*(client.get_game_link(**PARAMS) for _ in range(in_flight)))
                peak = _status_kib("VmHWM")
                await control.post(server.url + "/_control", json={"delay": 0.0})
                after_batches = []
                batch = max(in_flight // 5, 200)
                for _ in range(6):
                    await asyncio.gather(*(client.get_game_link(**PARAMS) for _ in range(batch)))
                    gc.collect()
                    after_batches.append(_status_kib("VmRSS"))
    growth = (after_batches[-1] - after_batches[1]) * 1024 / (batch * 4)
    return {
        "in_flight": in_flight,
        "baseline_rss_mib": round(baseline / 1024, 1),
        "peak_rss_mib": round(peak / 1024, 1),
        "peak_over_baseline_kib_per_call": round((peak - baseline) / in_flight, 2),
        "rss_after_batches_mib": [round(kib / 1024, 1) for kib in after_batches],
        "growth_bytes_per_completed_call": round(growth, 2),
        "batch": batch,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))))
