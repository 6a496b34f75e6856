"""Every ```python block in docs/ runs, so no example in the documentation can rot.

Each block is a complete program, run in its own interpreter with ``GAMEAPI_BASE_URL``,
``GAMEAPI_AGENT_ID`` and ``GAMEAPI_API_TOKEN`` pointing at a FakePlatform that this test
serves on loopback (so ``GameApiClient.from_env()`` works), and ``REDIS_URL`` pointing at a
real redis-server when the block mentions it. A block preceded by the line
``<!-- test: pytest -->`` is a pytest module and is run with pytest instead. A block passes
when its process exits 0 within the time limit and its output never shows the API token it was
given (the SDK keeps secrets out of logs, reprs and errors; an example must not teach
otherwise). The convention is described for contributors in docs/testing.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gameapi_async.testing import FakePlatform

from .fleet.redis_server import redis_server_binary

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PYTEST_MARKER = "<!-- test: pytest -->"
RUN_LIMIT = 90.0  # seconds per block: generous (a loaded CI machine starts Python slowly), and
# below pytest-timeout's 120 s so a hung example fails with its own output
AGENT_ID = 1
API_TOKEN = "docs-example-token"

_FENCE = re.compile(r"^(```+|~~~+)\s*([^\s`{]*)")
# Fences that would hold Python without running it: write ```python, or use text/console.
_UNRUN_PYTHON = {"py", "py3", "python3", "pycon", "pyi", "ipython"}


@dataclass(frozen=True)
class Example:
    """One fenced code block of a docs page."""

    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    pytest: bool  # preceded by the pytest marker

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(DOCS).as_posix()}:{self.line}"


def fenced_blocks(page: Path) -> Iterator[Example]:
    """Every fenced block of a Markdown page, in order (fences do not nest in our docs)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    previous = ""  # the last non-blank line before the fence
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            if lines[index].strip():
                previous = lines[index].strip()
            index += 1
            continue
        fence, language = opening.groups()
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].startswith(fence):
            body.append(lines[index])
            index += 1
        if index >= len(lines):
            raise AssertionError(f"{page}:{start + 1}: code fence never closed")
        index += 1  # past the closing fence
        yield Example(page, start + 1, language.lower(), "\n".join(body) + "\n",
                      previous == PYTEST_MARKER)
        previous = ""


def all_blocks() -> list[Example]:
    return [block for page in sorted(DOCS.glob("**/*.md")) for block in fenced_blocks(page)]


def python_examples() -> list[Example]:
    return [block for block in all_blocks() if block.language == "python"]


# -- services the examples run against ----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throwaway redis-server on loopback, without persistence; yields its URL."""
    binary = redis_server_binary()  # fails naming what to install when there is none
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not _answers_ping(port):
            if server.poll() is not None:
                pytest.fail(f"redis-server exited: {server.stderr.read().decode()[-500:]}"
                            if server.stderr else "redis-server exited")
            if time.monotonic() > deadline:
                pytest.fail("redis-server did not answer PING within 60 s")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr:
            server.stderr.close()


@pytest.fixture
async def platform() -> AsyncIterator[FakePlatform]:
    async with FakePlatform(agent_id=AGENT_ID, api_token=API_TOKEN, seed=0) as fake:
        yield fake


def example_env(fake: FakePlatform, redis_url: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("GAMEAPI_") and key != "REDIS_URL"}
    env.update(GAMEAPI_BASE_URL=fake.base_url, GAMEAPI_AGENT_ID=str(AGENT_ID),
               GAMEAPI_API_TOKEN=API_TOKEN, PYTHONDONTWRITEBYTECODE="1")
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    return env


async def run(argv: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run a process while this loop keeps serving the fake; (exit status, its output)."""
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RUN_LIMIT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"did not finish within {RUN_LIMIT:.0f} s")
    return process.returncode or 0, output.decode(errors="replace")


# -- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("example", python_examples(), ids=lambda example: example.name)
async def test_example_runs(
    example: Example, platform: FakePlatform, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        redis_url = (stack.enter_context(redis_server(tmp_path))
                     if "REDIS_URL" in example.code else None)
        env = example_env(platform, redis_url)
        if example.pytest:
            (tmp_path / "test_example.py").write_text(example.code, encoding="utf-8")
            # What docs/testing.md tells users to configure for the fixtures.
            (tmp_path / "pytest.ini").write_text(
                "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n",
                encoding="utf-8",
            )
            argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "test_example.py"]
        else:
            (tmp_path / "example.py").write_text(example.code, encoding="utf-8")
            argv = [sys.executable, "example.py"]
        status, output = await run(argv, cwd=tmp_path, env=env)
    assert status == 0, f"{example.name} exited {status}:\n{output[-4000:]}"
    assert API_TOKEN not in output, f"{example.name} printed the API token"


def test_examples_are_found() -> None:
    """The extraction sees the examples this suite is meant to run, both kinds."""
    names = {example.name for example in python_examples()}
    assert any(name.startswith("index.md:") for name in names), names
    # callbacks.md teaches the wallet side through its examples: a handler test, a whole check.
    assert sum(name.startswith("callbacks.md:") for name in names) >= 3, names
    assert any(example.pytest for example in python_examples())
    assert any(not example.pytest for example in python_examples())


def test_no_python_hides_in_another_fence() -> None:
    """Python in a ```py or ```pycon fence, or an untagged fence, would escape execution."""
    offenders = [f"{block.name} (```{block.language})" for block in all_blocks()
                 if block.language in _UNRUN_PYTHON or not block.language]
    assert not offenders, (
        "use ```python for runnable examples and ```text/```console/```bash otherwise: "
        + ", ".join(offenders)
    )


def test_pytest_marker_only_before_python() -> None:
    """A misplaced marker would silently run a pytest module as a script (or nothing)."""
    for page in sorted(DOCS.glob("**/*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if line.strip() != PYTEST_MARKER:
                continue
            following = next((text for text in lines[number:] if text.strip()), "")
            assert following.startswith("```python"), (
                f"{page.relative_to(DOCS)}:{number}: {PYTEST_MARKER} must directly precede "
                "a ```python block"
            )
