"""Instructions per signed ``get_game_link``: the SDK against hand-written raw aiohttp.

CPU time on a shared machine drifts by ten per cent from one minute to the next; the number of
instructions a process executes does not. Each client runs in a child interpreter under
valgrind's callgrind (the loopback server runs outside it, in a process of its own, so only
the client's work is counted). A child starts with callgrind's instrumentation off, so the
interpreter and the imports run at near native speed; after its warm-up calls (the connection,
caches, memoised checks) it switches instrumentation on itself (``callgrind_control -i on``)
and makes the measured calls. What is counted besides them (switching on, closing, exiting) is
the same whatever their number, so it is taken out by difference: one child makes ``calls``
measured calls, another ``2 * calls``, and

    instructions per call = (second total - first total) / calls.

The children run with a fixed hash seed and without writing bytecode, so two runs of the same
code execute the same instructions up to the few the event loop spends waiting on the socket.

``python -m benchmarks --suite instructions`` prints the table and writes ``instructions.json``;
``--against REV`` adds the SDK as it was at git revision ``REV`` (exported under another name,
as ``benchmarks.compare`` does), so before and after come from one run.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

import attrs

from .clients import RawAiohttp, Sdk
from .server import BenchServer

ROOT = Path(__file__).resolve().parent.parent
MODES: dict[str, Any] = {"raw aiohttp": RawAiohttp, "gameapi_async": Sdk}
TARGET = 1.10  # issue 20: the SDK at most 1.10x raw aiohttp's instructions per call
_COLLECTED = re.compile(r"Collected\s*:\s*([0-9]+)")


@attrs.frozen
class InstructionSettings:
    warmup: int = 200  # uncounted calls first: connections, caches, memoised checks
    calls: int = 500  # the difference between the two children of a mode
    modes: tuple[str, ...] = tuple(MODES)
    against: str | None = None  # a git revision whose SDK is measured beside the current one

    @classmethod
    def quick(cls) -> InstructionSettings:
        return cls(warmup=3, calls=3)  # proves it works, in seconds


def available() -> bool:
    """Whether valgrind and its callgrind_control are on the PATH."""
    return all(shutil.which(name) is not None for name in ("valgrind", "callgrind_control"))


def _mode(mode_name: str, url: str) -> Any:
    if mode_name.startswith("gameapi_async @ "):
        from .compare import mode_for

        revision = mode_name.removeprefix("gameapi_async @ ")
        return mode_for(os.environ["GAMEAPI_BENCH_PACKAGE"], revision)(url)
    return MODES[mode_name](url)


async def _calls(mode_name: str, url: str, warmup: int, count: int) -> None:
    mode = _mode(mode_name, url)
    try:
        for _ in range(warmup):
            await mode.call()
        # Blocking on purpose: nothing else runs, and the loop does no work of its own that
        # would then be counted.
        subprocess.run(  # noqa: ASYNC221
            ["callgrind_control", "-i", "on", str(os.getpid())], check=True, capture_output=True
        )
        for _ in range(count):
            await mode.call()  # one at a time: the per-call cost, not the loop's scheduling
    finally:
        await mode.close()


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ) | extra
    env.update(PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONASYNCIODEBUG", None)  # debug mode would count its own checks
    return env


def count_instructions(
    mode_name: str, url: str, warmup: int, calls: int, env: dict[str, str] | None = None
) -> int:
    """Instructions counted in a child interpreter making ``warmup`` calls uncounted, then
    ``calls`` counted calls through the mode (plus the constant cost of switching on and
    exiting)."""
    with tempfile.TemporaryDirectory(prefix="gameapi-callgrind-") as folder:
        result = subprocess.run(
            [
                "valgrind", "--tool=callgrind", "--instr-atstart=no",
                f"--callgrind-out-file={folder}/callgrind.out",
                sys.executable, "-m", "benchmarks.instructions", "--child", mode_name, url,
                str(warmup), str(calls),
            ],
            cwd=ROOT, env=_child_env(env or {}), capture_output=True, text=True, check=False,
            timeout=1800,
        )
    found = _COLLECTED.search(result.stderr)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind run of {mode_name!r} failed: {result.stderr[-2000:]}")
    return int(found.group(1))


def per_call(
    settings: InstructionSettings, url: str, modes: Sequence[str], env: dict[str, str]
) -> dict[str, dict[str, int]]:
    """Per mode: the totals of the two children and the instructions per call between them."""
    jobs = [(name, k * settings.calls) for name in modes for k in (1, 2)]
    # Instruction counts do not depend on what else runs: two children at a time.
    with ThreadPoolExecutor(max_workers=2) as pool:
        totals = list(pool.map(
            lambda job: count_instructions(job[0], url, settings.warmup, job[1], env), jobs
        ))
    found: dict[str, dict[str, int]] = {}
    for (name, calls), total in zip(jobs, totals, strict=True):
        found.setdefault(name, {})[f"counted_{calls}_calls"] = total
    for name in modes:
        short = found[name][f"counted_{settings.calls}_calls"]
        long = found[name][f"counted_{2 * settings.calls}_calls"]
        found[name]["per_call"] = round((long - short) / settings.calls)
    return found


def run_instructions(settings: InstructionSettings) -> dict[str, Any]:
    names = list(settings.modes)
    with tempfile.TemporaryDirectory(prefix="gameapi-against-") as folder:
        env: dict[str, str] = {}
        if settings.against is not None:
            from .compare import export

            env["GAMEAPI_BENCH_PACKAGE"] = export(settings.against, Path(folder))
            env["PYTHONPATH"] = os.pathsep.join(
                [folder, *filter(None, [os.environ.get("PYTHONPATH")])]
            )
            names.append(f"gameapi_async @ {settings.against}")
        with BenchServer(games=200) as server:
            modes = per_call(settings, server.url, names, env)
    raw = modes["raw aiohttp"]["per_call"]
    ratios = {name: round(row["per_call"] / raw, 3) for name, row in modes.items()}
    return {
        "warmup": settings.warmup,
        "calls": settings.calls,
        "modes": modes,
        "ratios": ratios,
        "ratio": ratios["gameapi_async"],
        "target": TARGET,
    }


def instructions_markdown(results: dict[str, Any]) -> str:
    lines = [
        f"**Instructions per signed `get_game_link`** (valgrind callgrind, one call at a time "
        f"against a loopback server; {results['warmup']} warm-up calls uncounted, per "
        f"call = difference between {results['calls']} and {2 * results['calls']} counted "
        "calls):",
        "",
        "| mode | instructions / call | vs raw aiohttp |",
        "|---|---:|---:|",
    ]
    for name, row in results["modes"].items():
        lines.append(f"| {name} | {row['per_call']:,} | {results['ratios'][name]:.3f}x |")
    lines += [
        "",
        f"SDK / raw aiohttp: **{results['ratio']:.3f}x** (target: at most "
        f"{results['target']:.2f}x).",
        "",
    ]
    return "\n".join(lines)


def _child(argv: Sequence[str]) -> NoReturn:
    mode_name, url, warmup, calls = argv
    asyncio.run(_calls(mode_name, url, int(warmup), int(calls)))
    # Skip the interpreter's finalisation: counted, it would only add seconds under callgrind.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2:])
    sys.exit("run it as `python -m benchmarks --suite instructions`")
