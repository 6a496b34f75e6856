"""run_wallet_check against correct wallets and broken ones, over real sockets.

Every broken wallet of broken_wallets.py must fail on the check named for its defect (and on
no check it does not break); every correct wallet, whatever its balance, must pass them all.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from gameapi_async.callbacks import CallbackHandler
from gameapi_async.testing import FakePlatform, Player, run_wallet_check
from gameapi_async.testing._callbacks import CallbackSender
from gameapi_async.testing._wallet_check import (
    CONCURRENT_BET,
    NEEDED,
    SESSION,
    above,
    covering_one,
    unit_for,
    units,
)

from ..callbacks.wallets import MemoryWallet, reserialising_app, serve
from ..support import AGENT_ID, API_TOKEN
from .broken_wallets import (
    PLAYER,
    START,
    DedupRace,
    FundsOutsideLock,
    Ledger,
    LostUpdates,
    OverdraftAccepted,
    RepeatAnswered500,
    RepeatWrongBalance,
    ReusedIdTakenAsRepeat,
    signature_ignored_app,
    unsigned_bet_app,
    wallet_app,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "wallet_service"
CHECKS = 13
UNSIGNED_BET = "unsigned makeBet refused, balance unchanged"
IN_A_ROW = "repeated delivery applied once"
AT_ONCE = "copies delivered at once applied once"
ANSWERS = "every repeat answered with the first answer's balance"
REUSED = "request_id reused with other amounts refused 409"
SERIALISED = "concurrent callbacks for one player serialised"
BELOW_ZERO = "concurrent bets never take the balance below zero"
OVERDRAFT = "bet above the balance refused"

#: Exact balances a correct wallet may hold, and the concurrency to run the check with.
BALANCES = [
    pytest.param(START, 8, id="100.00"),
    pytest.param(Decimal("1234.123456789012345678"), 8, id="18-decimals"),
    pytest.param(Decimal("9007199254740993.125"), 8, id="above-2**53"),
    pytest.param(NEEDED, 100, id="minimum-balance-concurrency-100"),
]


@given(whole=st.integers(20, 10**20), decimals=st.integers(0, 18), digits=st.integers(0))
def test_every_amount_is_sized_to_the_balance_and_exact_on_the_wire(
        whole: int, decimals: int, digits: int) -> None:
    """Any balance from the minimum up, with up to 18 decimals: each amount the check sends is
    a short decimal a PHP float carries exactly (the sender refuses any other), 256 racing
    makeBets fit in half of it, one racing bet is covered once and not twice, and the
    overdraft bet is above it."""
    balance = Decimal(whole) + Decimal(digits % 10**decimals).scaleb(-decimals)
    unit = unit_for(balance)
    sender = CallbackSender("http://127.0.0.1:9/cb", agent_id=AGENT_ID, api_token=API_TOKEN)
    largest = max(count for pair in SESSION for count in pair)
    for amount in (units(unit, n) for n in range(largest + 1)):
        sender.make_bet_body(Player(PLAYER), amount, amount)  # ValueError if not exact
    assert balance / 10_000 < unit <= balance / 1000
    bet, win = CONCURRENT_BET  # 256 racing makeBets: the last still finds its bet covered
    assert units(unit, 256 * (bet - win) + bet) < balance / 2
    assert balance / 2 < covering_one(balance) <= balance
    assert above(balance) > balance
    for amount in (covering_one(balance), above(balance)):
        sender.make_bet_body(Player(PLAYER), amount, Decimal(0))


async def check(app: web.Application, concurrency: int = 8) -> dict[str, str]:
    """The names of the failed checks -> their detail (empty when the wallet passed)."""
    async with serve(app) as url:
        report = await run_wallet_check(url, agent_id=AGENT_ID, api_token=API_TOKEN,
                                        concurrency=concurrency)
    assert len(report.results) == CHECKS, report.text()
    assert API_TOKEN not in report.text()
    return {r.name: r.detail for r in report.failed()}


@pytest.mark.parametrize(("balance", "concurrency"), BALANCES)
async def test_a_correct_wallet_passes_every_check_at_any_exact_balance(
        balance: Decimal, concurrency: int) -> None:
    wallet = Ledger(balance)
    assert await check(wallet_app(wallet), concurrency) == {}
    # The check moved a share of the money (up to a quarter with --concurrency 256), sized
    # to the balance, and gave back what the race to zero took.
    assert balance * Decimal("0.75") < wallet.balances[PLAYER] < balance


@pytest.fixture
def wallet_db(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import wallet_db

    return wallet_db


@pytest.mark.parametrize(("balance", "concurrency"), BALANCES)
async def test_the_example_sqlite_wallet_passes_every_check_at_any_exact_balance(
        wallet_db: ModuleType, tmp_path: Path, balance: Decimal, concurrency: int) -> None:
    wallet = wallet_db.SQLiteWallet(tmp_path / "wallet.sqlite3")
    await wallet.open()
    try:
        await wallet.set_player(PLAYER, "USD", balance)
        app = web.Application()
        handler = CallbackHandler(agent_id=AGENT_ID, api_token=API_TOKEN, wallet=wallet)
        app.router.add_post("/callback", handler.aiohttp_handler)
        assert await check(app, concurrency) == {}
    finally:
        await wallet.close()


@pytest.mark.parametrize(
    ("app", "failed"),
    [
        pytest.param(lambda: unsigned_bet_app(Ledger()), {UNSIGNED_BET}, id="unsigned-bet"),
        pytest.param(lambda: wallet_app(RepeatAnswered500()), {ANSWERS, REUSED},
                     id="500-on-repeat"),
        pytest.param(lambda: wallet_app(RepeatWrongBalance()), {ANSWERS},
                     id="repeat-wrong-balance"),
        pytest.param(lambda: wallet_app(ReusedIdTakenAsRepeat()), {REUSED},
                     id="reused-id-as-repeat"),
        pytest.param(lambda: wallet_app(FundsOutsideLock()), {BELOW_ZERO},
                     id="funds-outside-lock"),
        pytest.param(lambda: wallet_app(DedupRace()), {AT_ONCE, ANSWERS}, id="dedup-race"),
        pytest.param(lambda: wallet_app(LostUpdates()), {SERIALISED, BELOW_ZERO},
                     id="lost-updates"),
        pytest.param(lambda: wallet_app(OverdraftAccepted()), {OVERDRAFT, BELOW_ZERO},
                     id="overdraft-accepted"),
        pytest.param(lambda: signature_ignored_app(Ledger()),
                     {"unsigned callback refused", UNSIGNED_BET,
                      "callback signed with another token refused",
                      "body altered after signing refused"}, id="signature-ignored"),
    ],
)
async def test_each_broken_wallet_fails_on_the_check_named_for_its_defect(
        app: Callable[[], web.Application], failed: set[str]) -> None:
    assert set(await check(app())) == failed


async def test_the_verdicts_say_what_is_wrong() -> None:
    """The detail of each failure carries the evidence, not just the check's name."""
    details = await check(unsigned_bet_app(Ledger()))
    assert "without X-Signature was not refused" in details[UNSIGNED_BET]
    details = await check(wallet_app(RepeatAnswered500()))
    assert "HTTP 500" in details[ANSWERS]
    assert "expected 409" in details[REUSED]
    details = await check(wallet_app(RepeatWrongBalance()))
    assert "a repeat in a row was answered HTTP 200" in details[ANSWERS]
    details = await check(wallet_app(ReusedIdTakenAsRepeat()))
    assert "answered HTTP 200" in details[REUSED]
    details = await check(wallet_app(FundsOutsideLock()))
    assert "8 concurrent bets of 95 on a balance of 95.40 (it covers one): 8 taken, " \
        "balance left -664.60" in details[BELOW_ZERO]
    details = await check(wallet_app(DedupRace()))
    assert "8 copies delivered at once" in details[AT_ONCE]
    assert "applied 8 times" in details[AT_ONCE]
    details = await check(wallet_app(LostUpdates()))
    assert "not serialised per player" in details[SERIALISED]
    details = await check(wallet_app(OverdraftAccepted()))
    assert "above the balance was not refused" in details[OVERDRAFT]


async def test_a_wallet_verifying_a_reencoded_body_is_caught() -> None:
    """Verifying a re-encoded body passes with plain ASCII bodies and fails on the platform's
    first ``/`` or ``é``: the check's bodies carry both, escaped as PHP escapes them."""
    async with serve(reserialising_app(MemoryWallet())) as url:
        report = await run_wallet_check(url, agent_id=AGENT_ID, api_token=API_TOKEN)
    assert not report.passed
    assert "invalid_signature" in report.results[0].detail
    assert "exact bytes" in report.results[0].detail


async def test_an_unreachable_wallet_fails_the_first_check_and_stops() -> None:
    async with serve(wallet_app(Ledger())) as url:
        pass  # now closed: nothing listens there
    report = await run_wallet_check(url, agent_id=AGENT_ID, api_token=API_TOKEN,
                                    callback_timeout=30)
    assert not report.passed
    assert len(report.results) == 1
    assert "ClientConnectorError" in report.results[0].detail


async def test_an_unknown_player_is_reported() -> None:
    async with serve(wallet_app(Ledger())) as url:
        report = await run_wallet_check(url, agent_id=AGENT_ID, api_token=API_TOKEN,
                                        player_id="nobody")
    assert not report.passed
    assert "player_not_found" in report.results[0].detail


async def test_a_balance_below_the_minimum_is_reported() -> None:
    async with serve(wallet_app(Ledger(Decimal("19.99")))) as url:
        report = await run_wallet_check(url, agent_id=AGENT_ID, api_token=API_TOKEN)
    assert [r.passed for r in report.results] == [False]
    assert "below the 20" in report.results[0].detail


async def test_fake_platform_plays_a_session_signed_like_the_platform() -> None:
    wallet = Ledger()
    rounds = [(Decimal("1.10"), Decimal("0")), (Decimal("2"), Decimal("4.35"))]
    async with serve(wallet_app(wallet)) as url, FakePlatform(
            agent_id=AGENT_ID, api_token=API_TOKEN) as fake, fake.callback_sender(url) as sender:
        replies = await sender.play_session(Player(PLAYER), rounds)
    assert [r.status for r in replies] == [200] * 4
    assert [r.balance for r in replies] == [START, Decimal("98.90"), Decimal("101.25"),
                                            Decimal("101.25")]


@asynccontextmanager
async def constant_wallet(answer: Callable[[dict[str, Any]], bytes]) -> AsyncIterator[str]:
    async def wallet(request: web.Request) -> web.Response:
        data = json.loads(await request.read(), parse_float=Decimal)
        return web.Response(body=answer(data), content_type="application/json")

    app = web.Application()
    app.router.add_post("/callback", wallet)
    async with serve(app) as url:
        yield url


async def test_a_balance_with_an_exponent_fails_the_shape_check() -> None:
    async with constant_wallet(lambda data: b'{"content":{"balance":1E+2}}') as url:
        report = await run_wallet_check(url, agent_id=AGENT_ID, api_token=API_TOKEN)
    assert [r.passed for r in report.results] == [False]
    assert "not written as a plain number" in report.results[0].detail


async def test_a_bet_answered_with_an_exponent_fails_the_session_check() -> None:
    """Plain numbers in every answer, not only the first getBalance's."""
    balance = Decimal("100.00")

    def answer(data: dict[str, Any]) -> bytes:
        nonlocal balance
        if data["type"] == "makeBet":
            balance = balance - data["bet"] + data["win"]
            text = str(balance.normalize())  # 99 -> "99", 100 -> "1E+2"
            if "E" not in text:
                text = str(balance.scaleb(-2).normalize()) + "E+2"
        else:
            text = str(balance)
        return b'{"content":{"balance":%s}}' % text.encode()

    async with constant_wallet(answer) as url:
        report = await run_wallet_check(url, agent_id=AGENT_ID, api_token=API_TOKEN)
    verdicts = {r.name: r for r in report.results}
    session = verdicts["balance consistent after a session (start - bets + wins)"]
    assert not session.passed
    assert "not written as a plain number" in session.detail
