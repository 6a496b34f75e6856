"""``python -m benchmarks.compare REV [--levels 64] [--rounds 9]``: the SDK at ``REV`` against
the working tree, in one run.

The package as it was at the git revision ``REV`` is exported to a temporary folder under
another name (its imports are relative, so it runs side by side with the current one), and the
overhead benchmark measures the SDK at ``REV`` and the current SDK each beside raw aiohttp in
the same rounds (ABBA slices), reporting the median of the per-round ratios to raw aiohttp.
Numbers taken minutes apart on a shared machine are not comparable; numbers from one run are.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from .clients import PARAMS, TOKEN, RawAiohttp, Sdk
from .server import BenchServer
from .suite import Settings, overhead

ROOT = Path(__file__).resolve().parent.parent


def export(revision: str, folder: Path) -> str:
    """``gameapi_async`` at ``revision`` as the package ``gameapi_async_<rev>`` in ``folder``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "gameapi_async"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout
    name = "gameapi_async_" + "".join(c if c.isalnum() else "_" for c in revision)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "gameapi_async").rename(folder / name)
    return name


def mode_for(package: str, revision: str) -> type[Sdk]:
    client_class = importlib.import_module(package).GameApiClient

    class Old(Sdk):
        name = f"gameapi_async @ {revision}"

        def __init__(self, base_url: str) -> None:
            self._client = client_class(base_url=base_url, agent_id=1, api_token=TOKEN)

        async def call(self) -> str:
            link = await self._client.get_game_link(**PARAMS)
            url: str = link.url
            return url

    return Old


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare")
    parser.add_argument("revision")
    parser.add_argument("--levels", type=int, nargs="+", default=[64])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        package = export(args.revision, Path(folder))
        sys.path.insert(0, folder)
        modes: list[Any] = [RawAiohttp, mode_for(package, args.revision), Sdk]
        settings = Settings(levels=tuple(args.levels), rounds=args.rounds,
                            requests=args.requests)
        with BenchServer() as server:
            rows = asyncio.run(overhead(server.url, settings, modes=modes))
    print("| concurrency | mode | client CPU / request | vs raw aiohttp (median, range) |")
    print("|---:|---|---:|---:|")
    for row in rows:
        print(f"| {row['concurrency']} | {row['mode']} | {row['cpu_us_per_request']} µs | "
              f"{row['cpu_ratio_to_raw_aiohttp']:.3f}x ({row['cpu_ratio_min']:.2f}-"
              f"{row['cpu_ratio_max']:.2f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
