"""A SQLite wallet for the platform's callbacks: exact money, each delivery applied once.

All database work runs on one dedicated thread (a single-worker executor), so the event loop
never blocks on disk and every money movement is one ``BEGIN IMMEDIATE`` transaction: check the
delivery key, check the funds, move the money, record the key, commit. One writer thread
serialises movements of the same player (and of all players: SQLite has one writer anyway).

Amounts are stored as decimal text and computed with ``decimal.Decimal``; SQLite's REAL would
reintroduce binary floats. The arithmetic uses its own exact context: the default one (per
thread, so the database thread's too) rounds to 28 significant digits without a word.

Idempotency key: the platform's documentation names no transaction id for ``makeBet``, so the
key is its ``request_id`` (documented as unique per platform request), or the SHA-256 of the
exact signed body when there is none. Replace it with the transaction id once the platform
documents one. A key seen before with another player or other amounts is refused (409), not
answered as a repeated delivery: that answer would confirm a bet that was never applied.
"""

from __future__ import annotations

import asyncio
import decimal
import hashlib
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from gameapi_async.callbacks import Callback, GetBalance, MakeBet, WalletError

_T = TypeVar("_T")
logger = logging.getLogger("wallet_service")

SCHEMA = """
CREATE TABLE IF NOT EXISTS players (
    player_id TEXT PRIMARY KEY,
    currency  TEXT NOT NULL,
    balance   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    key           TEXT PRIMARY KEY,
    player_id     TEXT NOT NULL,
    bet           TEXT NOT NULL,
    win           TEXT NOT NULL,
    balance_after TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS unhandled (
    body TEXT NOT NULL
);
"""

#: Exact money arithmetic or an error, never a silent rounding: 100 digits hold any sum of
#: amounts the SDK accepts (exponents within +-30); past that, Rounded/Inexact are raised.
EXACT = decimal.Context(prec=100, traps=[decimal.Inexact, decimal.Rounded,
                                         decimal.InvalidOperation, decimal.Overflow])


class SQLiteWallet:
    """The ``wallet`` a :class:`~gameapi_async.callbacks.CallbackHandler` calls."""

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wallet-db")
        self._db: sqlite3.Connection | None = None

    async def _run(self, work: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    async def open(self) -> None:
        await self._run(self._open)

    async def close(self) -> None:
        await self._run(self._close)
        self._executor.shutdown(wait=True)

    def _open(self) -> None:
        # isolation_level=None: transactions are begun and committed explicitly below.
        self._db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the wallet is not open")
        return self._db

    # -- administration ---------------------------------------------------------------------

    async def set_player(self, player_id: str, currency: str, balance: Decimal) -> None:
        await self._run(self._set_player, player_id, currency, balance)

    def _set_player(self, player_id: str, currency: str, balance: Decimal) -> None:
        self.db.execute(
            "INSERT INTO players VALUES (?, ?, ?) ON CONFLICT(player_id) DO UPDATE "
            "SET currency = excluded.currency, balance = excluded.balance",
            (player_id, currency, str(balance)),
        )

    # -- the wallet interface ---------------------------------------------------------------

    async def get_balance(self, callback: GetBalance) -> Decimal:
        result: Decimal = await self._run(self._balance, callback.player_id, callback.currency)
        return result

    async def make_bet(self, callback: MakeBet) -> Decimal:
        key = callback.request_id or hashlib.sha256(callback.body).hexdigest()
        result: Decimal = await self._run(self._make_bet, key, callback)
        return result

    async def on_callback(self, callback: Callback) -> Decimal:
        """Any other type (a rollback: its name and fields are undocumented; a mis-cased
        ``MakeBet``): kept for an operator to review and refused, no money moved. Answering the
        balance instead would tell the platform the operation was done (docs/callbacks.md)."""
        await self._run(self._keep_unhandled, callback.body)
        raise WalletError("unsupported_callback",
                          f"callback type {callback.type!r} is not handled by this wallet")

    # -- on the database thread ---------------------------------------------------------------

    def _player(self, player_id: str, currency: str | None) -> Decimal:
        row = self.db.execute("SELECT currency, balance FROM players WHERE player_id = ?",
                              (player_id,)).fetchone()
        if row is None:
            raise WalletError("player_not_found", "Unknown player", status=404)
        if currency is not None and row[0] != currency:
            raise WalletError("currency_mismatch", "The player's wallet is in another currency")
        return Decimal(row[1])

    def _balance(self, player_id: str, currency: str | None) -> Decimal:
        return self._player(player_id, currency)

    def _make_bet(self, key: str, callback: MakeBet) -> Decimal:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            balance = self._player(callback.player_id, callback.currency)
            seen = db.execute("SELECT player_id, bet, win FROM deliveries WHERE key = ?",
                              (key,)).fetchone()
            if seen is not None and (seen[0], Decimal(seen[1]), Decimal(seen[2])) != (
                    callback.player_id, callback.bet, callback.win):
                # Answering the balance here would tell the platform this bet was taken.
                raise WalletError("request_id_reused",
                                  "This request_id was already used by another makeBet",
                                  status=409)
            if seen is None:
                if callback.bet > balance:
                    raise WalletError("insufficient_funds", "Not enough money", status=402)
                try:
                    balance = EXACT.add(EXACT.subtract(balance, callback.bet), callback.win)
                except decimal.DecimalException:
                    raise WalletError("invalid_amount", "The amount cannot be applied exactly",
                                      status=422) from None
                db.execute("UPDATE players SET balance = ? WHERE player_id = ?",
                           (str(balance), callback.player_id))
                db.execute("INSERT INTO deliveries VALUES (?, ?, ?, ?, ?)",
                           (key, callback.player_id, str(callback.bet), str(callback.win),
                            str(balance)))
            else:
                logger.info("repeated delivery %s: answered without moving money", key)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return balance

    def _keep_unhandled(self, body: bytes) -> None:
        self.db.execute("INSERT INTO unhandled VALUES (?)", (body.decode("utf-8"),))
