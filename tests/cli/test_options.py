"""The command's options: one rule with the SDK, errors in the command's own terms."""

from __future__ import annotations

import asyncio
import importlib.metadata
import io
import json
import socket
from collections.abc import AsyncIterator

import pytest

from gameapi_async import GameApiClient, InvalidParameterError
from gameapi_async.cli import main
from gameapi_async.testing import FakePlatform

TOKEN = "options-SECRET-token"
PLAYER = ["--player-id", "p1", "--currency", "USD", "--home-url", "https://c.example",
          "--ip", "203.0.113.7"]


@pytest.fixture
async def fake() -> AsyncIterator[FakePlatform]:
    async with FakePlatform(agent_id=3, api_token=TOKEN) as platform:
        yield platform


def creds(fake: FakePlatform) -> list[str]:
    return ["--base-url", fake.base_url, "--agent-id", "3", "--api-token", TOKEN]


async def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(main, list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def run_sync(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_version_is_the_installed_distribution_version() -> None:
    code, out, err = run_sync("--version")
    assert code == 0
    assert err == ""
    assert out.strip() == f"gameapi {importlib.metadata.version('gameapi-async')}"


def _assert_usage_error(code: int, out: str, err: str, command: str, flag: str) -> None:
    assert code == 2
    assert out == ""
    assert err.startswith(f"usage: gameapi {command} ")
    last = err.splitlines()[-1]
    assert last.startswith(f"gameapi {command}: error: ")
    assert flag in last
    assert "Traceback" not in err


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "x", "0.0"])
async def test_timeout_refused_by_the_sdk_is_refused_by_the_command(
    fake: FakePlatform, value: str
) -> None:
    for command in (["games"], ["link", "1", *PLAYER], ["demo-link", "1", *PLAYER]):
        code, out, err = await run_cli(*command, *creds(fake), f"--timeout={value}")
        _assert_usage_error(code, out, err, command[0], "--timeout")
    assert fake.requests == []


@pytest.mark.parametrize("value", [0.001, 0.5, 1e-9, 30.0, 1e9, -0.0, 0.0, -3.0])
def test_timeout_rule_is_the_sdks_rule(value: float) -> None:
    # Whatever the SDK accepts the command accepts, and the other way round.
    try:
        GameApiClient(base_url="https://x.example", agent_id=1, api_token="t", timeout=value)
        sdk_accepts = True
    except InvalidParameterError:
        sdk_accepts = False
    code, _, err = run_sync("games", "--timeout", repr(value), "--help")
    # --help stops after parsing; a refused value stops earlier with status 2.
    assert (code == 0) == sdk_accepts, err


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--player-id", ""), ("--player-username", ""), ("--currency", "US D"),
     ("--currency", "1"), ("--home-url", "not-a-url"), ("--home-url", "https://c.example/\x07"),
     ("--ip", "1.2.3"), ("--language", "e"), ("--language", "english!")],
)
async def test_every_player_flag_is_checked_by_the_sdk_rule_and_named(
    fake: FakePlatform, flag: str, value: str
) -> None:
    argv = [*PLAYER]
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]
    for command in ("link", "demo-link"):
        code, out, err = await run_cli(command, "1", *creds(fake), *argv)
        _assert_usage_error(code, out, err, command, f"argument {flag}:")
    assert fake.requests == []


async def test_session_id_is_checked_and_named(fake: FakePlatform) -> None:
    code, out, err = await run_cli("link", "1", *creds(fake), *PLAYER, "--session-id", "")
    _assert_usage_error(code, out, err, "link", "argument --session-id:")


@pytest.mark.parametrize("value", ["0", "-5", "x", "9223372036854775808"])
async def test_game_id_refused_as_the_sdk_would(fake: FakePlatform, value: str) -> None:
    code, out, err = await run_cli("demo-link", "--", value, *creds(fake), *PLAYER)
    # "--" lets "-5" through as the positional it is meant to be.
    _assert_usage_error(code, out, err, "demo-link", "GAME_ID")
    assert fake.requests == []


@pytest.mark.parametrize("value", ["0", "x", "99999999999999999999", " "])
async def test_agent_id_flag_and_variable_follow_read_envs_rule(
    fake: FakePlatform, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = await run_cli("games", "--base-url", fake.base_url, "--agent-id", value,
                                   "--api-token", TOKEN)
    _assert_usage_error(code, out, err, "games", "--agent-id:")
    monkeypatch.setenv("GAMEAPI_AGENT_ID", value)
    code, out, err = await run_cli("games", "--base-url", fake.base_url, "--api-token", TOKEN)
    _assert_usage_error(code, out, err, "games", "GAMEAPI_AGENT_ID:")
    assert fake.requests == []


async def test_a_refused_variable_is_named_as_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GAMEAPI_BASE_URL", "ftp://files.example")
    code, out, err = await run_cli("games", "--agent-id", "1", "--api-token", "t")
    _assert_usage_error(code, out, err, "games", "GAMEAPI_BASE_URL: must be an absolute")


async def test_json_usage_error_names_the_flag(fake: FakePlatform) -> None:
    code, out, err = await run_cli("games", "--base-url", "http://staging.example",
                                   "--agent-id", "1", "--api-token", "t", "--json")
    assert code == 2
    assert err == ""
    error = json.loads(out)["error"]
    assert error["field"] == "--base-url"
    assert "--allow-insecure-http" in error["message"]
    assert "allow_insecure_http" not in error["message"]


async def test_plain_http_staging_host_is_refused_naming_the_flag() -> None:
    code, out, err = await run_cli("games", "--base-url", "http://staging.example:8080",
                                   "--agent-id", "1", "--api-token", "t")
    _assert_usage_error(code, out, err, "games", "--base-url: plain http")
    assert "pass --allow-insecure-http" in err
    assert "allow_insecure_http" not in err


@pytest.fixture
async def everywhere_fake() -> AsyncIterator[FakePlatform]:
    async with FakePlatform(agent_id=3, api_token=TOKEN, host="0.0.0.0") as platform:
        yield platform


async def test_allow_insecure_http_reaches_a_plain_http_host_with_a_warning(
    everywhere_fake: FakePlatform,
) -> None:
    # This machine by its name: a plain-http host the SDK does not take for loopback, which
    # the fake (listening on every address) answers.
    host = socket.gethostname()
    port = everywhere_fake.base_url.rsplit(":", 1)[1]
    url = f"http://{host}:{port}"
    code, out, err = await run_cli("games", "--base-url", url, "--agent-id", "3",
                                   "--api-token", TOKEN, "--json", "--allow-insecure-http")
    assert code == 0, out + err
    assert json.loads(out)["total"] == 24
    (warning,) = err.splitlines()
    assert warning.startswith("warning: --allow-insecure-http:")
    assert TOKEN not in err


async def test_allow_insecure_http_is_silent_where_it_changes_nothing(
    fake: FakePlatform,
) -> None:
    code, _, err = await run_cli("games", *creds(fake), "--allow-insecure-http")
    assert code == 0
    assert err == ""


@pytest.mark.parametrize(
    ("argv", "flag"),
    [(["--latency", "-1"], "--latency"), (["--latency", "nan"], "--latency"),
     (["--error-rate", "1.5"], "--error-rate"), (["--error-status", "200"], "--error-status"),
     (["--agent-id", "0"], "--agent-id"), (["--port", "70000"], "--port"),
     (["--seed", "x"], "--seed"), (["--api-token", ""], "--api-token")],
)
def test_mock_server_options_are_usage_errors_of_mock_server(argv: list[str], flag: str) -> None:
    code, out, err = run_sync("mock-server", *argv)
    _assert_usage_error(code, out, err, "mock-server", f"argument {flag}:")


@pytest.mark.parametrize("argv", [["games", "--bogus"], ["link", "1", *PLAYER, "--nope"],
                                  ["mock-server", "--bogus"], ["demo", "extra"]])
def test_an_unknown_argument_shows_the_subcommands_usage(argv: list[str]) -> None:
    code, out, err = run_sync(*argv)
    _assert_usage_error(code, out, err, argv[0], "unrecognized arguments")


def test_missing_credentials_show_the_subcommands_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GAMEAPI_BASE_URL", raising=False)
    code, out, err = run_sync("games", "--agent-id", "1", "--api-token", "t")
    _assert_usage_error(code, out, err, "games", "--base-url: not given")
