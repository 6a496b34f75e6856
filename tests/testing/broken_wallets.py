"""Wallets for the wallet-check tests: one correct ledger, and one wallet per defect.

Each broken wallet is the correct :class:`Ledger` with one documented rule broken the way real
wallets break it, and nothing else, so wallet-check must fail it on the check named for that
rule. They are served over real sockets by aiohttp's own server, behind the SDK's
``CallbackHandler`` (which verifies signatures) unless the defect is in the verifying.

The ledger's ``write`` is where a real wallet awaits its database: one turn of the event loop,
no sleep. Race windows are therefore as narrow as they get in asyncio; wallet-check's racing
copies still have to meet inside them.
"""

from __future__ import annotations

import asyncio
import decimal
import hashlib
import json
import sqlite3
from decimal import Decimal
from typing import Any

from aiohttp import web

from gameapi_async.callbacks import CallbackHandler, GetBalance, MakeBet, WalletError

from ..support import AGENT_ID, API_TOKEN

PLAYER = "wallet-check-player"
START = Decimal("100.00")
EXACT = decimal.Context(prec=100, traps=[decimal.Inexact, decimal.Rounded])


class Ledger:
    """Correct: one lock per wallet, funds and delivery key checked inside it, each key
    applied once and its repeats answered with the balance of the first answer, a key reused
    with other amounts refused 409, overdrafts refused 402, exact arithmetic on any balance."""

    def __init__(self, balance: Decimal = START) -> None:
        self.balances = {PLAYER: balance}
        self.deliveries: dict[str, tuple[str, Decimal, Decimal, Decimal]] = {}
        self.lock = asyncio.Lock()

    def close(self) -> None:
        """Release what the wallet holds (the app's cleanup calls it)."""

    def balance_of(self, player_id: str) -> Decimal:
        if player_id not in self.balances:
            raise WalletError("player_not_found", "Unknown player", status=404)
        return self.balances[player_id]

    async def get_balance(self, callback: GetBalance) -> Decimal:
        return self.balance_of(callback.player_id)

    async def make_bet(self, callback: MakeBet) -> Decimal:
        key = callback.request_id or hashlib.sha256(callback.body).hexdigest()
        async with self.lock:
            return await self.apply(key, callback.player_id, callback.bet, callback.win)

    async def apply(self, key: str, player_id: str, bet: Decimal, win: Decimal) -> Decimal:
        """Under the lock: the delivery key, the funds, the movement and its record."""
        seen = self.deliveries.get(key)
        if seen is not None:
            return self.repeat(seen, player_id, bet, win)
        return await self.move(key, player_id, bet, win)

    def repeat(self, seen: tuple[str, Decimal, Decimal, Decimal], player_id: str,
               bet: Decimal, win: Decimal) -> Decimal:
        if seen[:3] != (player_id, bet, win):
            raise WalletError("request_id_reused", "request_id already used by another makeBet",
                              status=409)
        return seen[3]

    async def move(self, key: str, player_id: str, bet: Decimal, win: Decimal) -> Decimal:
        if bet > self.balance_of(player_id):
            raise WalletError("insufficient_funds", "Not enough money", status=402)
        return await self.write(key, player_id, bet, win)

    async def write(self, key: str, player_id: str, bet: Decimal, win: Decimal,
                    read: Decimal | None = None) -> Decimal:
        """The database write, awaited as a real one is (one turn of the event loop), of the
        balance (from ``read``, or the current one) and the delivery key."""
        await asyncio.sleep(0)
        base = self.balances[player_id] if read is None else read
        after = self.balances[player_id] = EXACT.add(EXACT.subtract(base, bet), win)
        self.deliveries[key] = (player_id, bet, win, after)
        return after


class RepeatAnswered500(Ledger):
    """The UNIQUE-constraint pattern: the delivery key is inserted first, in a real SQLite
    table, and a repeat's insert fails (IntegrityError, answered 500) although the money
    moved once."""

    def __init__(self, balance: Decimal = START) -> None:
        super().__init__(balance)
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE TABLE deliveries (key TEXT PRIMARY KEY)")

    def close(self) -> None:
        self.db.close()  # unclosed, Python 3.13+ warns when the GC finds it, in whatever test

    async def apply(self, key: str, player_id: str, bet: Decimal, win: Decimal) -> Decimal:
        with self.db:
            self.db.execute("INSERT INTO deliveries VALUES (?)", (key,))
        return await self.move(key, player_id, bet, win)


class RepeatWrongBalance(Ledger):
    """Moves the money once, but answers a repeat with what applying it again would leave."""

    def repeat(self, seen: tuple[str, Decimal, Decimal, Decimal], player_id: str,
               bet: Decimal, win: Decimal) -> Decimal:
        super().repeat(seen, player_id, bet, win)
        return EXACT.add(EXACT.subtract(self.balances[player_id], bet), win)


class ReusedIdTakenAsRepeat(Ledger):
    """Keys on request_id alone: the same id with other amounts is answered as a repeat,
    confirming a bet that was never applied."""

    def repeat(self, seen: tuple[str, Decimal, Decimal, Decimal], player_id: str,
               bet: Decimal, win: Decimal) -> Decimal:
        return seen[3]


class FundsOutsideLock(Ledger):
    """Checks the funds before taking the lock: bets racing at a balance that covers one all
    pass the check, then all move the money."""

    async def make_bet(self, callback: MakeBet) -> Decimal:
        if callback.bet > self.balance_of(callback.player_id):
            raise WalletError("insufficient_funds", "Not enough money", status=402)
        return await super().make_bet(callback)

    async def move(self, key: str, player_id: str, bet: Decimal, win: Decimal) -> Decimal:
        return await self.write(key, player_id, bet, win)  # the funds were checked unlocked


class DedupRace(Ledger):
    """Looks the delivery key up before taking the lock: copies arriving within one turn of
    the event loop all miss it and are all applied. In a row, repeats are caught."""

    async def make_bet(self, callback: MakeBet) -> Decimal:
        key = callback.request_id or hashlib.sha256(callback.body).hexdigest()
        seen = self.deliveries.get(key)
        if seen is not None:
            return self.repeat(seen, callback.player_id, callback.bet, callback.win)
        async with self.lock:
            return await self.move(key, callback.player_id, callback.bet, callback.win)


class LostUpdates(Ledger):
    """No lock: reads the balance, awaits its write, writes the balance it read minus the
    bet; concurrent bets overwrite each other."""

    async def make_bet(self, callback: MakeBet) -> Decimal:
        key = callback.request_id or hashlib.sha256(callback.body).hexdigest()
        return await self.apply(key, callback.player_id, callback.bet, callback.win)

    async def move(self, key: str, player_id: str, bet: Decimal, win: Decimal) -> Decimal:
        read = self.balance_of(player_id)
        if bet > read:
            raise WalletError("insufficient_funds", "Not enough money", status=402)
        return await self.write(key, player_id, bet, win, read=read)


class OverdraftAccepted(Ledger):
    """Never checks the funds: any bet is taken, the balance goes below zero."""

    async def move(self, key: str, player_id: str, bet: Decimal, win: Decimal) -> Decimal:
        self.balance_of(player_id)  # the player must exist; the funds are never looked at
        return await self.write(key, player_id, bet, win)


def wallet_app(wallet: Ledger) -> web.Application:
    """``wallet`` at ``/callback`` behind the SDK's verifying handler."""
    handler = CallbackHandler(agent_id=AGENT_ID, api_token=API_TOKEN, wallet=wallet)
    app = web.Application()
    app.router.add_post("/callback", handler.aiohttp_handler)
    return closing(app, wallet)


def closing(app: web.Application, wallet: Ledger) -> web.Application:
    """``app``, closing ``wallet`` when the app is cleaned up."""

    async def close(_: web.Application) -> None:
        wallet.close()

    app.on_cleanup.append(close)
    return app


async def _answer(wallet: Ledger, data: dict[str, Any]) -> web.Response:
    """What the SDK's handler would answer, for a body it never verified."""
    try:
        if data["type"] == "makeBet":
            async with wallet.lock:
                balance = await wallet.apply(data["request_id"], data["player_id"],
                                             Decimal(data["bet"]), Decimal(data["win"]))
        else:
            balance = wallet.balance_of(data["player_id"])
    except WalletError as error:
        return web.json_response({"error": error.code, "message": error.message},
                                 status=error.status)
    return web.Response(body=b'{"content":{"balance":%s}}' % str(balance).encode(),
                        content_type="application/json")


def unsigned_bet_app(wallet: Ledger) -> web.Application:
    """Verifies what is signed, and demands a signature on getBalance; a makeBet without one
    is trusted (the money route exempted from a signature middleware, say)."""
    handler = CallbackHandler(agent_id=AGENT_ID, api_token=API_TOKEN, wallet=wallet)

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        data = json.loads(body, parse_float=Decimal)
        if "X-Signature" in request.headers or data.get("type") != "makeBet":
            return await handler.aiohttp_handler(request)
        return await _answer(wallet, data)

    app = web.Application()
    app.router.add_post("/callback", handle)
    return closing(app, wallet)


def signature_ignored_app(wallet: Ledger) -> web.Application:
    """Checks no signature at all: unsigned, forged and altered callbacks are all served."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return await _answer(wallet, json.loads(await request.read(), parse_float=Decimal))

    app = web.Application()
    app.router.add_post("/callback", handle)
    return closing(app, wallet)
