"""The ``gameapi`` command, in-process and as a real subprocess."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from gameapi_async import Game
from gameapi_async.cli import main
from gameapi_async.cli._output import games_table
from gameapi_async.testing import FakePlatform

TOKEN = "cli-SECRET-token"


@pytest.fixture
async def fake() -> AsyncIterator[FakePlatform]:
    async with FakePlatform(agent_id=3, api_token=TOKEN) as platform:
        yield platform


async def run_cli(*argv: str) -> tuple[int, str, str]:
    """``main`` runs its own event loop, so run it in a worker thread."""
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(main, list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def creds(fake: FakePlatform) -> list[str]:
    return ["--base-url", fake.base_url, "--agent-id", "3", "--api-token", TOKEN]


async def test_games_table_and_json(fake: FakePlatform) -> None:
    code, out, _ = await run_cli("games", *creds(fake))
    assert code == 0
    assert out.splitlines()[0].split() == ["ID", "TITLE", "BRAND", "DEMO"]
    assert "Champagne Party" in out
    code, out, _ = await run_cli("games", *creds(fake), "--json", "--demo-only")
    data = json.loads(out)
    assert code == 0
    assert data["games"]
    assert all(g["demo"] for g in data["games"])
    assert data["total"] == len(data["games"])


async def test_credentials_from_the_environment(
    fake: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GAMEAPI_BASE_URL", fake.base_url)
    monkeypatch.setenv("GAMEAPI_AGENT_ID", "3")
    monkeypatch.setenv("GAMEAPI_API_TOKEN", TOKEN)
    code, out, _ = await run_cli("demo-link", "1", "--player-id", "p1", "--currency", "EUR",
                                 "--home-url", "https://c.example", "--ip", "::1")
    assert code == 0
    assert out.strip().startswith("https://")
    assert "/demo?" in out


async def test_link_prints_the_url(fake: FakePlatform) -> None:
    code, out, _ = await run_cli("link", "2", *creds(fake), "--player-id", "p1", "--currency",
                                 "USD", "--home-url", "https://c.example", "--ip", "1.2.3.4",
                                 "--json")
    assert code == 0
    assert json.loads(out)["url"].startswith("https://")
    sent = json.loads(fake.requests_to("/api/games/get_game_link")[0].body)
    assert sent["agent_session_id"].startswith("cli-")
    assert sent["player_username"] == "p1"


async def test_platform_error_is_one_line_with_code_and_request_id(fake: FakePlatform) -> None:
    code, out, err = await run_cli("demo-link", "2", *creds(fake), "--player-id", "p",
                                   "--currency", "USD", "--home-url", "https://c.example",
                                   "--ip", "::1")
    assert code == 1
    assert out == ""
    (line,) = err.splitlines()
    assert "[game_provider_not_found]" in line
    assert "request_id=" in line
    assert "http_status=404" in line
    assert "Traceback" not in err


async def test_bad_token_fails_without_printing_it(fake: FakePlatform) -> None:
    code, out, err = await run_cli("games", "--base-url", fake.base_url, "--agent-id", "3",
                                   "--api-token", "WRONG-token-value", "--json")
    assert code == 1
    error = json.loads(out)["error"]
    assert (error["code"], error["http_status"]) == ("invalid_signature", 403)
    assert error["request_id"]
    assert "WRONG-token-value" not in out + err


async def test_invalid_input_exits_2_naming_the_field(fake: FakePlatform) -> None:
    code, _, err = await run_cli("link", "1", *creds(fake), "--player-id", "p", "--currency",
                                 "USD", "--home-url", "not-a-url", "--ip", "::1")
    assert code == 2
    assert err.startswith("usage: gameapi link ")
    assert err.splitlines()[-1].startswith("gameapi link: error: argument --home-url:")
    assert fake.requests == []


async def test_missing_credentials_name_flag_and_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GAMEAPI_BASE_URL", raising=False)
    code, _, err = await run_cli("games", "--agent-id", "1", "--api-token", "t")
    assert code == 2
    assert "--base-url" in err
    assert "GAMEAPI_BASE_URL" in err


async def test_network_failure_exits_1() -> None:
    code, _, err = await run_cli("games", "--base-url", "http://127.0.0.1:9", "--agent-id",
                                 "1", "--api-token", "t", "--timeout", "2")
    assert code == 1
    assert err.startswith("error: NetworkError:")


def test_demo_runs_end_to_end_as_a_subprocess() -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(
        [sys.executable, "-m", "gameapi_async", "demo"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Champagne Party" in out
    assert "Game link for #" in out
    assert "/play?token=" in out
    assert "Demo link for #" in out
    assert "/demo?token=" in out
    assert "handled GameProviderNotFoundError: code=game_provider_not_found" in out
    assert result.stderr == ""


def test_mock_server_serves_until_interrupted() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gameapi_async", "mock-server", "--port", "0",
         "--api-token", "mock-token"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Fake platform listening on http://127.0.0.1:")
        url = first.rsplit(" ", 1)[1].strip()
        code = main(["games", "--base-url", url, "--agent-id", "1", "--api-token",
                     "mock-token", "--json"], out=io.StringIO(), err=io.StringIO())
        assert code == 0
        proc.send_signal(2)  # SIGINT
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _mock_server(*extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gameapi_async", "mock-server", "--api-token", "mock-token",
         *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_mock_server_on_a_taken_port_is_one_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _mock_server("--port", str(port))
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"error: cannot listen on 127.0.0.1:{port}:")
    assert "Traceback" not in err


def test_mock_server_stops_cleanly_on_sigterm() -> None:
    proc = _mock_server("--port", "0")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Fake platform listening on http://")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert out.rstrip().endswith("Stopped.")
        assert err == ""
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize(
    "argv",
    [[], ["nope"], ["games", "--bogus"], ["link"], ["mock-server", "--error-rate", "2"],
     ["mock-server", "--port", "x"], ["mock-server", "--error-status", "200"]],
)
def test_usage_errors_return_2_instead_of_raising(argv: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(argv, out=out, err=err) == 2
    assert out.getvalue() == ""
    assert err.getvalue().startswith("usage: gameapi")
    assert "error:" in err.getvalue()


def test_help_goes_to_out_and_returns_0() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["--help"], out=out, err=err) == 0
    text = out.getvalue()
    for command in ("demo", "games", "link", "demo-link", "mock-server"):
        assert command in text
    assert "GAMEAPI_API_TOKEN" in text
    assert "exit status" in text.lower()
    for command in ("games", "link", "demo-link", "mock-server"):
        out = io.StringIO()
        assert main([command, "--help"], out=out, err=err) == 0
        assert "usage: gameapi " + command in out.getvalue()
    assert err.getvalue() == ""


def test_a_failure_is_the_only_output_no_retry_log_lines() -> None:
    # The SDK logs each retry on the "gameapi_async" logger; with logging not configured,
    # Python would print those warnings to stderr around the one error line.
    result = subprocess.run(
        [sys.executable, "-m", "gameapi_async", "games", "--base-url", "http://127.0.0.1:9",
         "--agent-id", "1", "--api-token", "t", "--timeout", "1"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: NetworkError:")
    assert "attempts=" in line


def test_mock_server_injects_the_chosen_error_statuses() -> None:
    proc = _mock_server("--port", "0", "--error-rate", "1", "--error-status", "429")
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().rsplit(" ", 1)[1].strip()
        out, err = io.StringIO(), io.StringIO()
        code = main(["games", "--base-url", url, "--agent-id", "1", "--api-token",
                     "mock-token", "--json", "--timeout", "2"], out=out, err=err)
        assert code == 1
        error = json.loads(out.getvalue())["error"]
        assert (error["code"], error["http_status"]) == ("rate_limited", 429)
        assert error["request_id"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


def test_games_table_aligns_wide_titles_by_terminal_columns() -> None:
    games = [Game(id=1, title="龍の宝", brand="Wide", image_url="https://x.test/a.jpg",
                  demo=True),
             Game(id=22, title="Plain title", brand="Narrow", image_url="https://x.test/b.jpg",
                  demo=False)]
    lines = games_table(games).splitlines()
    # Each CJK character takes two columns, so "龍の宝" (3 characters) fills 6.
    brand_columns = {line[: line.index(brand)] for line, brand in
                     zip(lines, ("BRAND", "Wide", "Narrow"), strict=True)}
    widths = {sum(2 if ord(c) > 0x2E80 else 1 for c in prefix) for prefix in brand_columns}
    assert len(widths) == 1
