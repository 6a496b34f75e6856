"""``gameapi wallet-check``: the command as a user runs it, in a real interpreter, against
wallets served over real sockets."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys

import pytest

from gameapi_async.cli import main
from gameapi_async.testing._wallet_check import NEEDED

from ..callbacks.wallets import serve
from ..support import AGENT_ID, API_TOKEN
from ..testing.broken_wallets import PLAYER, Ledger, RepeatWrongBalance, wallet_app


async def _cli(url: str, *extra: str) -> tuple[int, str]:
    env = {**os.environ, "GAMEAPI_AGENT_ID": str(AGENT_ID), "GAMEAPI_API_TOKEN": API_TOKEN}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gameapi_async", "wallet-check", url, *extra, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_exits_zero_on_a_correct_wallet_at_the_minimum_balance_with_100_racing() -> None:
    """The documented minimum balance and a high --concurrency: the check sizes its bets to
    the balance, so it causes no refusal of its own."""
    wallet = Ledger(NEEDED)
    async with serve(wallet_app(wallet)) as url:
        status, output = await _cli(url, "--concurrency", "100")
    assert status == 0, output
    assert "PASS  copies delivered at once applied once: 100 copies" in output
    assert "PASS  concurrent callbacks for one player serialised: 100 concurrent" in output
    assert "13 passed, 0 failed" in output
    assert API_TOKEN not in output
    assert 0 < wallet.balances[PLAYER] < NEEDED


async def test_exits_one_naming_the_failed_check_on_a_broken_wallet() -> None:
    async with serve(wallet_app(RepeatWrongBalance())) as url:
        status, output = await _cli(url, "--json")
    assert status == 1, output
    report = json.loads(output)
    assert report["passed"] is False
    failed = {c["name"] for c in report["checks"] if not c["passed"]}
    assert failed == {"every repeat answered with the first answer's balance"}


def _in_process(monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str]:
    monkeypatch.setenv("GAMEAPI_AGENT_ID", str(AGENT_ID))
    monkeypatch.setenv("GAMEAPI_API_TOKEN", API_TOKEN)
    out, err = io.StringIO(), io.StringIO()
    status = main(["wallet-check", *argv], out=out, err=err)
    return status, out.getvalue() + err.getvalue()


def test_refuses_a_bad_url_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    status, output = _in_process(monkeypatch, "ftp://wallet.example")
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
        (("--concurrency", "257"), "--concurrency"),
        (("--concurrency", "0"), "--concurrency"),
    ],
)
def test_checks_options_by_the_sdk_rules(monkeypatch: pytest.MonkeyPatch,
                                         flags: tuple[str, str], named: str) -> None:
    status, output = _in_process(monkeypatch, "http://127.0.0.1:9/wallet", *flags)
    assert status == 2, output
    assert named in output
    assert "wallet-check" in output  # the subcommand's own usage or error line
