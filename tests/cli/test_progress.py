"""While a call waits to retry, a person at a terminal sees a line per retry."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from gameapi_async.cli import main
from gameapi_async.testing import FakePlatform, Faults

TOKEN = "progress-SECRET-token"


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, as a tty does."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
async def failing() -> AsyncIterator[FakePlatform]:
    faults = Faults(error_rate=1.0, error_statuses=(503,))
    async with FakePlatform(agent_id=3, api_token=TOKEN, faults=faults) as platform:
        yield platform


def _argv(fake: FakePlatform) -> list[str]:
    return ["games", "--base-url", fake.base_url, "--agent-id", "3", "--api-token", TOKEN]


async def test_each_retry_is_one_line_on_a_terminal(failing: FakePlatform) -> None:
    out, err = io.StringIO(), Terminal()
    code = await asyncio.to_thread(main, _argv(failing), out=out, err=err)
    assert code == 1
    *notices, last = err.getvalue().splitlines()
    attempts = len(failing.requests)
    assert attempts == 4  # the default policy
    assert len(notices) == attempts - 1
    for number, line in enumerate(notices, start=1):
        assert line.startswith(f"list_games: attempt {number} failed (service_unavailable); "
                               "retrying in ")
        assert line.endswith(" s")
    assert last.startswith("error: [service_unavailable]")
    assert f"attempts={attempts}" in last
    assert TOKEN not in err.getvalue()


async def test_no_retry_lines_when_stderr_is_not_a_terminal(failing: FakePlatform) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(main, _argv(failing), out=out, err=err)
    assert code == 1
    (line,) = err.getvalue().splitlines()  # a script reading stderr gets the one error line
    assert line.startswith("error: [service_unavailable]")


def _run_with_terminal_stderr(argv: list[str]) -> tuple[int, str]:
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "gameapi_async", *argv],
                                stdout=subprocess.DEVNULL, stderr=follower)
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = proc.wait(timeout=60)
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    return code, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


async def test_a_real_terminal_sees_the_retry_lines(failing: FakePlatform) -> None:
    code, err = await asyncio.to_thread(_run_with_terminal_stderr, _argv(failing))
    assert code == 1
    lines = err.splitlines()
    assert [line.split(" failed")[0] for line in lines[:-1]] == [
        f"list_games: attempt {n}" for n in (1, 2, 3)
    ]
    assert lines[-1].startswith("error: [service_unavailable]")
