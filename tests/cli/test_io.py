"""The command's output under hostile stdouts: pipes closed early, encodings that lack a title.

These run the real command in a subprocess with real pipes: the failures they guard against
(a traceback on EPIPE, "Exception ignored" from the flush at interpreter exit, an encoder
crash) only exist on a real file descriptor.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from gameapi_async import Game
from gameapi_async.cli import main
from gameapi_async.cli._status import EXIT_BROKEN_PIPE
from gameapi_async.testing import FakePlatform

TOKEN = "pipe-SECRET-token"
UNICODE_TITLES = ("Иван Грозный", "龍の宝 財宝", "Lucky 🎰 Slots")
QUIET_STATUSES = (0, EXIT_BROKEN_PIPE)


def _game(game_id: int, title: str, demo: bool = True) -> Game:
    return Game(id=game_id, title=title, brand="Brand", image_url="https://cdn.test/x.jpg",
                demo=demo)


@pytest.fixture
async def unicode_fake() -> AsyncIterator[FakePlatform]:
    games = [_game(i, title) for i, title in enumerate(UNICODE_TITLES, start=1)]
    async with FakePlatform(agent_id=3, api_token=TOKEN, games=games) as platform:
        yield platform


@pytest.fixture
async def big_fake() -> AsyncIterator[FakePlatform]:
    # Far more output than a pipe buffer (64 KiB on Linux) holds, so a reader that stops
    # early makes the writer hit EPIPE for certain, not by timing.
    games = [_game(i, f"Game number {i} with a long enough title") for i in range(1, 4001)]
    async with FakePlatform(agent_id=3, api_token=TOKEN, games=games) as platform:
        yield platform


def _env(fake: FakePlatform | None = None, **extra: str) -> dict[str, str]:
    # Without PYTHONUNBUFFERED (which some shells export) stdout is block-buffered on a pipe,
    # and what is still buffered is flushed at interpreter exit: the classic trap.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GAMEAPI_", "PYTHONIO", "PYTHONUNBUFFERED"))}
    if fake is not None:
        env.update(GAMEAPI_BASE_URL=fake.base_url, GAMEAPI_AGENT_ID="3",
                   GAMEAPI_API_TOKEN=TOKEN)
    env.update(extra)
    return env


def _command(*argv: str) -> list[str]:
    return [sys.executable, "-m", "gameapi_async", *argv]


def _run_with_reader_gone(argv: Sequence[str], env: dict[str, str],
                          keep: int | None = None) -> tuple[int, bytes, str]:
    """Run the command with stdout on a pipe whose reader reads ``keep`` bytes (a line when
    None) then closes it, like ``| head -c N`` / ``| head -1``; ``keep=0`` is ``| true``."""
    proc = subprocess.Popen(_command(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    assert proc.stdout is not None
    assert proc.stderr is not None
    with proc:
        if keep == 0:
            got = b""
        elif keep is None:
            got = proc.stdout.readline()
        else:
            got = proc.stdout.read(keep)
        proc.stdout.close()
        err = proc.stderr.read().decode("utf-8", "replace")
        code = proc.wait(timeout=60)
    return code, got, err


def _assert_quiet(err: str) -> None:
    assert "Traceback" not in err
    assert "Exception ignored" not in err
    assert "BrokenPipeError" not in err
    assert err == ""


@pytest.mark.parametrize(
    "argv",
    [["games"], ["games", "--json"],
     ["demo-link", "1", "--player-id", "p", "--currency", "USD", "--home-url",
      "https://c.example", "--ip", "::1"]],
)
@pytest.mark.parametrize("buffering", [{}, {"PYTHONUNBUFFERED": "1"}],
                         ids=["buffered", "unbuffered"])
async def test_a_reader_that_closes_at_once_gets_a_quiet_exit(
    unicode_fake: FakePlatform, argv: list[str], buffering: dict[str, str]
) -> None:
    env = _env(unicode_fake, **buffering)
    code, _, err = await asyncio.to_thread(_run_with_reader_gone, argv, env, 0)
    _assert_quiet(err)
    assert code == EXIT_BROKEN_PIPE


@pytest.mark.parametrize("argv", [["--help"], ["games", "--help"], ["--version"],
                                  ["games", "--bogus"]])
def test_help_version_and_usage_into_a_closed_pipe_are_quiet(argv: list[str]) -> None:
    # argparse itself swallows the write error of its help text, so success (0) or the
    # usage status (2) is as quiet as the broken-pipe status here.
    code, _, err = _run_with_reader_gone(argv, _env(), 0)
    if argv[-1] == "--bogus":
        assert "usage: gameapi games" in err
        assert "Traceback" not in err
        assert "Exception ignored" not in err
        assert code == 2
    else:
        _assert_quiet(err)
        assert code in QUIET_STATUSES


async def test_an_error_written_to_a_closed_json_stdout_is_quiet(
    unicode_fake: FakePlatform,
) -> None:
    env = _env(unicode_fake, GAMEAPI_API_TOKEN="wrong-token")
    code, _, err = await asyncio.to_thread(_run_with_reader_gone, ["games", "--json"], env, 0)
    _assert_quiet(err)
    assert code == EXIT_BROKEN_PIPE


def test_demo_into_a_closed_pipe_is_quiet() -> None:
    code, _, err = _run_with_reader_gone(["demo"], _env(), 0)
    _assert_quiet(err)
    assert code == EXIT_BROKEN_PIPE


async def test_head_one_line_of_a_long_table(big_fake: FakePlatform) -> None:
    code, first, err = await asyncio.to_thread(_run_with_reader_gone, ["games"],
                                               _env(big_fake))
    assert first.split() == [b"ID", b"TITLE", b"BRAND", b"DEMO"]
    _assert_quiet(err)
    assert code == EXIT_BROKEN_PIPE


async def test_head_c_10_of_long_json(big_fake: FakePlatform) -> None:
    code, first, err = await asyncio.to_thread(_run_with_reader_gone, ["games", "--json"],
                                               _env(big_fake), 10)
    assert first.startswith(b"{")
    _assert_quiet(err)
    assert code == EXIT_BROKEN_PIPE


def _shell_pipeline(pipeline: str, env: dict[str, str], err_path: Path) -> tuple[int, str]:
    command, _, reader = pipeline.partition(" | ")
    script = (f'"$PY" -m gameapi_async {command} 2>"$ERR" | {reader} >/dev/null; '
              'echo "${PIPESTATUS[0]}"')
    result = subprocess.run(["bash", "-c", script], env={**env, "ERR": str(err_path)},
                            capture_output=True, text=True, timeout=60, check=False)
    return int(result.stdout.strip()), err_path.read_text(encoding="utf-8", errors="replace")


@pytest.mark.parametrize("pipeline", ["demo | head -1", "games | true",
                                      "games --json | head -c 10", "--help | head -1"])
async def test_shell_pipelines_from_the_issue(
    unicode_fake: FakePlatform, pipeline: str, tmp_path: Path
) -> None:
    # The real thing, through a shell. Whether the writer outruns the reader is up to the
    # scheduler here, so both outcomes are allowed; quiet is not negotiable.
    env = _env(unicode_fake, PY=sys.executable)
    code, err = await asyncio.to_thread(_shell_pipeline, pipeline, env, tmp_path / "err")
    _assert_quiet(err)
    assert code in QUIET_STATUSES


# -- encodings ----------------------------------------------------------------------------

NARROW_STDOUTS = [
    pytest.param({"PYTHONIOENCODING": "ascii"}, id="PYTHONIOENCODING=ascii"),
    pytest.param({"PYTHONIOENCODING": "latin-1"}, id="PYTHONIOENCODING=latin-1"),
    pytest.param({"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"},
                 id="C-locale-no-coercion"),
]


async def _run(
    fake: FakePlatform, env: dict[str, str], *argv: str
) -> subprocess.CompletedProcess[bytes]:
    return await asyncio.to_thread(subprocess.run, _command(*argv), env={**_env(fake), **env},
                                   capture_output=True, timeout=60, check=False)


@pytest.mark.parametrize("narrow", NARROW_STDOUTS)
async def test_table_degrades_on_a_narrow_stdout(
    unicode_fake: FakePlatform, narrow: dict[str, str]
) -> None:
    result = await _run(unicode_fake, narrow, "games")
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    text = result.stdout.decode("ascii", "strict" if "ascii" in str(narrow) else "replace")
    assert "\\u0418\\u0432\\u0430\\u043d" in text  # Иван, escaped, not dropped
    assert "\\U0001f3b0" in text  # the slot machine emoji
    assert "3 games" in text


@pytest.mark.parametrize("narrow", NARROW_STDOUTS)
async def test_json_is_valid_and_complete_in_any_encoding(
    unicode_fake: FakePlatform, narrow: dict[str, str]
) -> None:
    result = await _run(unicode_fake, narrow, "games", "--json")
    assert result.returncode == 0, result.stderr
    result.stdout.decode("ascii")  # nothing outside ASCII: readable in every encoding
    data = json.loads(result.stdout)
    assert [g["title"] for g in data["games"]] == list(UNICODE_TITLES)


async def test_utf8_stdout_shows_titles_as_they_are(unicode_fake: FakePlatform) -> None:
    result = await _run(unicode_fake, {"PYTHONIOENCODING": "utf-8"}, "games")
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode("utf-8")
    for title in UNICODE_TITLES:
        assert title in text


@pytest.mark.parametrize("narrow", NARROW_STDOUTS)
def test_demo_runs_on_a_narrow_stdout(narrow: dict[str, str]) -> None:
    result = subprocess.run(_command("demo"), env={**_env(), **narrow}, capture_output=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert b"Done." in result.stdout


def test_in_process_main_on_an_already_broken_stream_returns_141() -> None:
    # A caller's own stdout whose reader is gone, with output still pending from before.
    reader, writer = os.pipe()
    os.close(reader)
    out = io.TextIOWrapper(io.FileIO(writer, "w"), encoding="ascii")
    try:
        out.write("pending from the caller\n")
        err = io.StringIO()
        assert main(["--version"], out=out, err=err) == EXIT_BROKEN_PIPE
        assert err.getvalue() == ""
        out.write("later writes go nowhere, quietly\n")
        out.flush()
    finally:
        out.close()


def _run_with_stderr_reader_gone(argv: Sequence[str], env: dict[str, str]) -> int:
    proc = subprocess.Popen(_command(*argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env)
    assert proc.stderr is not None
    proc.stderr.close()
    return proc.wait(timeout=60)


async def test_an_error_line_to_a_closed_stderr_is_the_broken_pipe_status(
    unicode_fake: FakePlatform,
) -> None:
    # `gameapi games 2>&1 | true` with a failure to report: the error line cannot be
    # written; the status still says why (a traceback would have exited 1).
    env = _env(unicode_fake, GAMEAPI_API_TOKEN="wrong-token")
    code = await asyncio.to_thread(_run_with_stderr_reader_gone, ["games"], env)
    assert code == EXIT_BROKEN_PIPE


def _run_with_closed(redirect: str, argv: Sequence[str], env: dict[str, str],
                     ) -> subprocess.CompletedProcess[str]:
    """The command started with a descriptor closed (``>&-``, ``2>&-``): Python then has no
    ``sys.stdout`` or ``sys.stderr`` at all (``None``), not a broken one."""
    script = f'exec "$@" {redirect}'
    return subprocess.run(["bash", "-c", script, "gameapi", *_command(*argv)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["games", "--bogus"]])
def test_a_stdout_closed_from_the_start_is_no_traceback(argv: list[str]) -> None:
    result = _run_with_closed(">&-", argv, _env())
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == (2 if "--bogus" in argv else 0)


async def test_a_listing_to_a_closed_stdout_succeeds_quietly(unicode_fake: FakePlatform) -> None:
    result = await asyncio.to_thread(_run_with_closed, ">&-", ["games"], _env(unicode_fake))
    assert (result.returncode, result.stderr) == (0, "")


async def test_an_error_with_stderr_closed_from_the_start_keeps_its_status(
    unicode_fake: FakePlatform,
) -> None:
    # Nowhere to write the error line; the status still says what happened (a traceback
    # would also exit 1, so stdout shows whether the command got that far).
    env = _env(unicode_fake, GAMEAPI_API_TOKEN="wrong-token")
    result = await asyncio.to_thread(_run_with_closed, "2>&-", ["games", "--json"], env)
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["code"] == "invalid_signature"
    ok = await asyncio.to_thread(_run_with_closed, "2>&-", ["games"], _env(unicode_fake))
    assert ok.returncode == 0
    assert "Иван Грозный" in ok.stdout or "\\u0418" in ok.stdout
