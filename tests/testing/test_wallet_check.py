"""wallet-check against a correct wallet and a broken one, over real sockets."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from decimal import Decimal

import pytest

from gameapi_async.testing import FakePlatform, Player, run_wallet_check

from ..callbacks.wallets import (
    PLAYER,
    START,
    BrokenWallet,
    MemoryWallet,
    broken_app,
    good_app,
    serve,
)
from ..support import AGENT_ID, API_TOKEN


async def test_a_correct_wallet_passes_every_check() -> None:
    wallet = MemoryWallet()
    async with serve(good_app(wallet)) as url:
        report = await run_wallet_check(url, agent_id=AGENT_ID, api_token=API_TOKEN)
    assert report.passed, report.text()
    assert len(report.results) == 8
    assert "8 passed, 0 failed" in report.text()
    assert API_TOKEN not in report.text()


async def test_a_broken_wallet_fails_with_the_reasons() -> None:
    async with serve(broken_app(BrokenWallet(concurrency=8))) as url:
        report = await run_wallet_check(url, agent_id=AGENT_ID, api_token=API_TOKEN)
    verdicts = {r.name: r for r in report.results}
    assert not report.passed
    assert verdicts["getBalance answered in the documented shape"].passed
    assert verdicts["balance consistent after a session (start - bets + wins)"].passed
    assert "without X-Signature was not refused" in verdicts["unsigned callback refused"].detail
    assert "another token was not refused" in verdicts[
        "callback signed with another token refused"].detail
    assert "altered after signing was not refused" in verdicts[
        "body altered after signing refused"].detail
    assert "applied 3 times" in verdicts["repeated delivery applied once"].detail
    assert "not serialised per player" in verdicts[
        "concurrent callbacks for one player serialised"].detail
    assert "larger than the balance was not refused" in verdicts[
        "bet above the balance refused"].detail
    assert "2 passed, 6 failed" in report.text()


async def test_an_unreachable_wallet_fails_the_first_check_and_stops() -> None:
    async with serve(good_app(MemoryWallet())) as url:
        pass  # now closed: nothing listens there
    report = await run_wallet_check(url, agent_id=AGENT_ID, api_token=API_TOKEN,
                                    callback_timeout=30)
    assert not report.passed
    assert len(report.results) == 1
    assert "ClientConnectorError" in report.results[0].detail


async def test_an_unknown_player_is_reported() -> None:
    async with serve(good_app(MemoryWallet())) as url:
        report = await run_wallet_check(url, agent_id=AGENT_ID, api_token=API_TOKEN,
                                        player_id="nobody")
    assert not report.passed
    assert "player_not_found" in report.results[0].detail


async def test_fake_platform_plays_a_session_signed_like_the_platform() -> None:
    wallet = MemoryWallet()
    rounds = [(Decimal("1.10"), Decimal("0")), (Decimal("2"), Decimal("4.35"))]
    async with serve(good_app(wallet)) as url, FakePlatform(
            agent_id=AGENT_ID, api_token=API_TOKEN) as fake, fake.callback_sender(url) as sender:
        replies = await sender.play_session(Player(PLAYER), rounds)
    assert [r.status for r in replies] == [200] * 4
    assert [r.balance for r in replies] == [START, Decimal("98.90"), Decimal("101.25"),
                                            Decimal("101.25")]


async def _cli(url: str, *extra: str) -> tuple[int, str]:
    env = {**os.environ, "GAMEAPI_AGENT_ID": str(AGENT_ID), "GAMEAPI_API_TOKEN": API_TOKEN}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gameapi_async", "wallet-check", url, *extra, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_cli_exits_zero_on_a_correct_wallet() -> None:
    async with serve(good_app(MemoryWallet())) as url:
        status, output = await _cli(url)
    assert status == 0, output
    assert "PASS  repeated delivery applied once" in output
    assert API_TOKEN not in output


async def test_cli_exits_one_with_reasons_on_a_broken_wallet() -> None:
    async with serve(broken_app(BrokenWallet(concurrency=8))) as url:
        status, output = await _cli(url, "--json")
    assert status == 1, output
    report = json.loads(output)
    assert report["passed"] is False
    failed = {c["name"] for c in report["checks"] if not c["passed"]}
    assert "repeated delivery applied once" in failed


async def test_cli_refuses_a_bad_url_before_sending() -> None:
    status, output = await _cli("ftp://wallet.example")
    assert status == 2
    assert "URL" in output


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (("--timeout", "0"), "--timeout"),
        (("--timeout", "nan"), "--timeout"),
        (("--currency", "US D"), "--currency"),
        (("--agent-id", "0"), "--agent-id"),
        (("--api-token", ""), "--api-token"),
    ],
)
async def test_cli_checks_options_by_the_sdk_rules(flags: tuple[str, str], named: str) -> None:
    status, output = await _cli("http://127.0.0.1:9/wallet", *flags)
    assert status == 2, output
    assert named in output
    assert "wallet-check" in output  # the subcommand's own usage or error line


async def test_a_balance_with_an_exponent_fails_the_shape_check() -> None:
    from aiohttp import web

    async def exponent(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b'{"content":{"balance":1E+2}}', content_type="application/json")

    app = web.Application()
    app.router.add_post("/callback", exponent)
    async with serve(app) as url:
        report = await run_wallet_check(url, agent_id=AGENT_ID, api_token=API_TOKEN)
    assert [r.passed for r in report.results] == [False]
    assert "not written as a plain number" in report.results[0].detail
