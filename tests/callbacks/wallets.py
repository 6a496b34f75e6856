"""Wallet endpoints for the wallet-check tests: one correct, one broken in known ways."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

from aiohttp import web

from gameapi_async.callbacks import CallbackHandler, GetBalance, MakeBet, WalletError
from gameapi_async.testing._wallet_check import CONCURRENT_BET

from ..support import AGENT_ID, API_TOKEN

PLAYER = "wallet-check-player"
START = Decimal("100.00")


class MemoryWallet:
    """Correct: one lock per player, each request_id applied once, overdrafts refused."""

    def __init__(self) -> None:
        self.balances = {PLAYER: START}
        self.applied: dict[str, Decimal] = {}
        self.lock = asyncio.Lock()

    async def get_balance(self, callback: GetBalance) -> Decimal:
        if callback.player_id not in self.balances:
            raise WalletError("player_not_found", "Unknown player", status=404)
        return self.balances[callback.player_id]

    async def make_bet(self, callback: MakeBet) -> Decimal:
        async with self.lock:
            balance = self.balances[callback.player_id]
            key = callback.request_id or callback.body.hex()
            if key in self.applied:
                return balance
            if callback.bet > balance:
                raise WalletError("insufficient_funds", "Not enough money", status=402)
            balance = self.balances[callback.player_id] = balance - callback.bet + callback.win
            self.applied[key] = balance
            return balance


class BrokenWallet:
    """Trusts every body, applies every delivery, and loses concurrent updates.

    For the concurrency check's bets it reads the balance, then waits (a barrier, so the race
    happens every run, not by luck) for its siblings before writing.
    """

    def __init__(self, concurrency: int) -> None:
        self.balance = START
        self.barrier = asyncio.Barrier(concurrency)

    async def handle(self, request: web.Request) -> web.Response:
        data = json.loads(await request.read(), parse_float=Decimal)
        if data["type"] == "makeBet":
            read = self.balance
            if data["bet"] == CONCURRENT_BET:
                await asyncio.wait_for(self.barrier.wait(), 60)
            self.balance = read - Decimal(data["bet"]) + Decimal(data["win"])
        body = '{"content":{"balance":%s}}' % self.balance  # noqa: UP031
        return web.Response(body=body.encode(), content_type="application/json")


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/callback"
    finally:
        await runner.cleanup()


def good_app(wallet: MemoryWallet) -> web.Application:
    app = web.Application()
    handler = CallbackHandler(agent_id=AGENT_ID, api_token=API_TOKEN, wallet=wallet)
    app.router.add_post("/callback", handler.aiohttp_handler)
    return app


def broken_app(wallet: BrokenWallet) -> web.Application:
    app = web.Application()
    app.router.add_post("/callback", wallet.handle)
    return app
