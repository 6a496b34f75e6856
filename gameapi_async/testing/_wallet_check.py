"""``run_wallet_check``: a conformance check of an agent's wallet endpoint.

It plays the platform against the URL with :class:`CallbackSender` and reports, check by
check, what passed and what failed and why. The checks follow the platform's documentation and
common seamless-wallet practice (docs/callbacks.md): forged and unsigned callbacks refused and
moving no money, answers in the documented shapes, balances consistent after a session,
repeated deliveries applied once and answered alike, a reused ``request_id`` refused, one
player's concurrent callbacks serialised, overdrafts refused even when bets race.

Every amount is sized to the balance the wallet reports (a unit of about a thousandth of it,
with one significant digit), so the check moves the same share of any balance: 20.00, one with
18 decimals, one above 2**53. Each amount is a short decimal a PHP float holds exactly, as the
platform's would be. Arithmetic on balances is exact, whatever their number of digits.

The player it uses must exist in the wallet with a balance of at least :data:`NEEDED`; the
checks move money and leave it where a correct wallet ends up: a few hundredths lower.
"""

from __future__ import annotations

import decimal
import re
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._signing import sign

if TYPE_CHECKING:  # aiohttp is imported when the check runs, not when the CLI parses
    from ._callbacks import CallbackReply, CallbackSender, Player

__all__ = ["CheckResult", "WalletCheckReport", "run_wallet_check"]

NEEDED: Final = Decimal("20")
"""The least balance the test player needs: at 20 the unit is 0.02, so no amount has more
decimals than a two-decimal currency holds."""
UNITS: Final = 1000  # the unit is about the start balance / UNITS
#: (bet, win) rounds of the session check, in units: losses, wins, a zero bet (a free spin).
SESSION: Final = ((10, 0), (25, 50), (1, 0), (0, 12), (30, 3))
#: (bet, win) of each of the concurrent makeBets of the serialisation check, in units.
CONCURRENT_BET: Final = (2, 1)
#: (bet, win) re-delivered in a row, and another delivered as racing copies, in units.
SEQUENTIAL_REDELIVERY: Final = (10, 4)
CONCURRENT_REDELIVERY: Final = (7, 2)
REDELIVERIES: Final = 3  # deliveries in a row; racing copies are at least as many
#: Races are run this many times (until one shows the defect): requests released together
#: still reach a wallet in another process a few microseconds apart, so a race window of one
#: event-loop turn is met in most rounds, not in every one.
RACE_ROUNDS: Final = 3
#: The first and the second use of one request_id, in units: other amounts, same player.
REUSED_REQUEST_ID: Final = ((5, 0), (6, 0))
_BALANCE_TEXT: Final = re.compile(rb'"balance"\s*:\s*(-?[0-9][0-9.eE+-]*)')
#: Exact arithmetic on any balance: a rounding would be raised, never made silently.
_EXACT: Final = decimal.Context(prec=100, traps=[decimal.Inexact, decimal.Rounded,
                                                 decimal.InvalidOperation])
_ROUGH: Final = decimal.Context(prec=6)  # for "applied 2.5 times" in a message


@attrs.frozen
class CheckResult:
    """The verdict of one conformance check.

    Attributes:
        name: what the check verifies, e.g. ``repeated delivery applied once``.
        passed: whether the wallet behaved as the check requires.
        detail: what was observed: the evidence when it passed, the reason when it failed.
    """

    name: str
    passed: bool
    detail: str


@attrs.frozen
class WalletCheckReport:
    """Everything ``run_wallet_check`` found, check by check, in the order they ran.

    When the first check (a ``getBalance`` in the documented shape) fails, the others are not
    run: without a balance nothing else can be judged.

    Attributes:
        url: the wallet URL that was checked.
        player_id: the test player whose money the checks moved.
        results: one result per check that ran.
    """

    url: str
    player_id: str
    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        """True when at least one check ran and every check passed."""
        return bool(self.results) and all(r.passed for r in self.results)

    def failed(self) -> list[CheckResult]:
        """The checks that failed, in order."""
        return [r for r in self.results if not r.passed]

    def text(self) -> str:
        """The report as ``gameapi wallet-check`` prints it: one PASS/FAIL line per check."""
        lines = [f"wallet-check {self.url} (player {self.player_id})"]
        lines += [f"  {'PASS' if r.passed else 'FAIL'}  {r.name}: {r.detail}"
                  for r in self.results]
        failed = len(self.failed())
        lines.append(f"{len(self.results) - failed} passed, {failed} failed")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (what ``gameapi wallet-check --json`` prints)."""
        return {"url": self.url, "player_id": self.player_id, "passed": self.passed,
                "checks": [attrs.asdict(r) for r in self.results]}


class _Failed(Exception):
    """A check's verdict, with the reason."""


# -- amounts --------------------------------------------------------------------------------


def _leading(value: Decimal, digits: int) -> Decimal:
    """``value`` (positive) cut down to its first ``digits`` significant digits."""
    shift = value.adjusted() - digits + 1
    return Decimal(int(value.scaleb(-shift, _EXACT))).scaleb(shift, _EXACT)


def unit_for(balance: Decimal) -> Decimal:
    """The check's amount unit for a start ``balance``: one significant digit, at most
    ``balance / UNITS`` (0.02 for 20, 0.1 for 100.123456789012345678, 9E+12 for 2**53 + 1)."""
    return _leading(_EXACT.divide(balance, UNITS), 1)


def units(unit: Decimal, count: int) -> Decimal:
    """``count`` units: still a short decimal, so exactly what a PHP float sends."""
    return _EXACT.multiply(unit, count)


def covering_one(balance: Decimal) -> Decimal:
    """A bet the ``balance`` covers once and not twice: its first two digits (> balance/2)."""
    return _leading(balance, 2)


def above(balance: Decimal) -> Decimal:
    """A short amount above ``balance``: its first digit plus one, in that place (or 1)."""
    if balance <= 0:
        return Decimal(1)
    place = balance.adjusted()
    return Decimal(int(balance.scaleb(-place, _EXACT)) + 1).scaleb(place, _EXACT)


def _after(balance: Decimal, bet: Decimal, win: Decimal) -> Decimal:
    return _EXACT.add(_EXACT.subtract(balance, bet), win)


# -- reading answers ------------------------------------------------------------------------


def _describe(reply: CallbackReply) -> str:
    body = reply.body[:200].decode("utf-8", "replace")
    return f"HTTP {reply.status} {body!r}"


def _balance(reply: CallbackReply, what: str) -> Decimal:
    balance = reply.balance
    if balance is None:
        raise _Failed(f"{what} was not answered {{\"content\":{{\"balance\":<number>}}}} with "
                      f"200: {_describe(reply)}")
    written = _BALANCE_TEXT.search(reply.body)
    if written is None or b"e" in written.group(1).lower():
        raise _Failed(f"{what}: balance not written as a plain number: {_describe(reply)}")
    return balance


def _refused(reply: CallbackReply, what: str) -> str:
    if not 400 <= reply.status < 500:
        raise _Failed(f"{what} was not refused with a 4xx: {_describe(reply)}")
    if reply.error is None:
        raise _Failed(f"{what} was refused, but not as {{\"error\":..., \"message\":...}}: "
                      f"{_describe(reply)}")
    return f"HTTP {reply.status} {reply.error}"


def _times(before: Decimal, after: Decimal, bet: Decimal, win: Decimal) -> str:
    """How many times a (bet, win) was applied to go from ``before`` to ``after``."""
    moved = _EXACT.subtract(before, after)
    return str(_ROUGH.divide(moved, _EXACT.subtract(bet, win)).normalize())


class _Checker:
    def __init__(self, sender: CallbackSender, player: Player, api_token: str,
                 concurrency: int) -> None:
        self.sender = sender
        self.player = player
        self._token = api_token
        self.concurrency = concurrency
        self.unit = Decimal(0)  # set by the first check, from the balance it reads

    def amounts(self, bet_win: tuple[int, int]) -> tuple[Decimal, Decimal]:
        return units(self.unit, bet_win[0]), units(self.unit, bet_win[1])

    async def balance_now(self) -> Decimal:
        return _balance(await self.sender.get_balance(self.player), "getBalance")

    async def _unchanged_since(self, before: Decimal, verdict: str) -> str:
        after = await self.balance_now()
        if after != before:
            raise _Failed(f"{verdict}, but the balance moved from {before} to {after}")
        return verdict

    async def answer_shape(self) -> str:
        reply = await self.sender.get_balance(self.player)
        if reply.status in (401, 403):
            raise _Failed(f"a correctly signed getBalance was refused: {_describe(reply)}; is "
                          "the signature checked over the exact bytes received (the body has "
                          "PHP's \\/ and \\u00e9 escapes) with this agent's token?")
        balance = _balance(reply, "getBalance")
        answer = reply.json
        if set(answer) != {"content"}:
            raise _Failed(f"answer has keys besides content: {sorted(answer)}")
        if balance < NEEDED:
            raise _Failed(f"balance {balance} is below the {NEEDED} the other checks need")
        self.unit = unit_for(balance)
        return f"balance {balance}"

    async def unsigned(self) -> str:
        reply = await self.sender.post(self.sender.get_balance_body(self.player), signature=None)
        return _refused(reply, "a getBalance without X-Signature")

    async def unsigned_bet(self) -> str:
        """The money-moving callback unsigned: refused, and nothing moved (read back signed)."""
        before = await self.balance_now()
        body = self.sender.make_bet_body(self.player, self.unit, Decimal(0))
        verdict = _refused(await self.sender.post(body, signature=None),
                           "a makeBet without X-Signature")
        return await self._unchanged_since(before, verdict)

    async def forged(self) -> str:
        body = self.sender.get_balance_body(self.player)
        reply = await self.sender.post(body, signature=sign("not-the-agent-token", body))
        return _refused(reply, "a getBalance signed with another token")

    async def tampered(self) -> str:
        before = await self.balance_now()
        request_id = f"cb-{uuid.uuid4()}"
        signed = self.sender.make_bet_body(self.player, self.unit, Decimal(0), request_id)
        altered = self.sender.make_bet_body(self.player, units(self.unit, 2), Decimal(0),
                                            request_id)
        reply = await self.sender.post(altered, signature=sign(self._token, signed))
        verdict = _refused(reply, "a makeBet whose bet was altered after signing")
        return await self._unchanged_since(before, verdict)

    async def session(self) -> str:
        rounds = [self.amounts(bet_win) for bet_win in SESSION]
        replies = await self.sender.play_session(self.player, rounds)
        expected = start = _balance(replies[0], "getBalance at launch")
        for (bet, win), reply in zip(rounds, replies[1:-1], strict=True):
            expected = _after(expected, bet, win)
            got = _balance(reply, f"makeBet(bet={bet}, win={win})")
            if got != expected:
                raise _Failed(f"makeBet(bet={bet}, win={win}) answered {got}, expected {expected}")
        final = _balance(replies[-1], "getBalance after the session")
        if final != expected:
            raise _Failed(f"final balance {final}, expected {expected} (start {start} - bets "
                          f"+ wins)")
        return f"{len(SESSION)} rounds, {start} -> {final} as expected"

    async def _deliver(self, bet_win: tuple[int, int], copies: int, at_once: bool,
                       ) -> tuple[Decimal, Decimal, Decimal, Decimal, list[CallbackReply]]:
        """One signed makeBet delivered ``copies`` times, in a row or as racing copies.

        Returns the balance before, the bet, the win, the balance read back after, and the
        replies in the order sent.
        """
        bet, win = self.amounts(bet_win)
        before = await self.balance_now()
        body = self.sender.make_bet_body(self.player, bet, win)
        replies = (await self.sender.concurrently([body] * copies) if at_once
                   else await self.sender.redeliver(body, copies))
        return before, bet, win, await self.balance_now(), replies

    @property
    def racing_copies(self) -> int:
        return max(REDELIVERIES, self.concurrency)

    async def redelivery(self) -> str:
        await self._applied_once(SEQUENTIAL_REDELIVERY, REDELIVERIES, at_once=False, rounds=1)
        return f"{REDELIVERIES} deliveries in a row, money moved once"

    async def racing_redelivery(self) -> str:
        """Copies of one makeBet arriving together (a platform retry racing the original):
        a wallet that looks its delivery key up outside the lock or transaction that moves
        the money applies them all."""
        copies = self.racing_copies
        await self._applied_once(CONCURRENT_REDELIVERY, copies, at_once=True,
                                 rounds=RACE_ROUNDS)
        return (f"{copies} copies on connections opened beforehand, completed together, "
                f"money moved once ({RACE_ROUNDS} rounds)")

    async def _applied_once(self, bet_win: tuple[int, int], copies: int, *, at_once: bool,
                            rounds: int) -> None:
        for round_ in range(1, rounds + 1):
            before, bet, win, after, _ = await self._deliver(bet_win, copies, at_once=at_once)
            if after != _after(before, bet, win):
                how = (f"{copies} copies delivered at once (round {round_})" if at_once
                       else f"{copies} deliveries in a row")
                raise _Failed(f"{how}: balance {after}, expected {_after(before, bet, win)}: "
                              f"the same makeBet was applied {_times(before, after, bet, win)} "
                              "times")

    async def repeat_answers(self) -> str:
        """Every repeat answered 200 with the balance the first delivery answered: a 500 (a
        UNIQUE constraint surfacing) or another balance tells the platform something else."""
        _, bet, win, _, replies = await self._deliver(SEQUENTIAL_REDELIVERY, REDELIVERIES,
                                                      at_once=False)
        first = _balance(replies[0], "the first delivery")
        self._all_answer(first, replies[1:], "a repeat in a row")
        before, bet, win, _, replies = await self._deliver(CONCURRENT_REDELIVERY,
                                                           self.racing_copies, at_once=True)
        self._all_answer(_after(before, bet, win), replies, "a copy delivered at once")
        return (f"{REDELIVERIES - 1} repeats in a row and {self.racing_copies} copies at once, "
                "each answered 200 with the first answer's balance")

    @staticmethod
    def _all_answer(expected: Decimal, replies: list[CallbackReply], what: str) -> None:
        for reply in replies:
            if reply.balance != expected:
                raise _Failed(f"{what} was answered {_describe(reply)}; expected 200 with the "
                              f"first answer's balance {expected}")

    async def reused_request_id(self) -> str:
        """A request_id seen before, with other amounts: not a repeat, a conflict (409).
        Answering it with a balance would confirm a bet that was never applied."""
        (bet, win), (other_bet, other_win) = (self.amounts(a) for a in REUSED_REQUEST_ID)
        request_id = f"cb-{uuid.uuid4()}"
        first = await self.sender.post(
            self.sender.make_bet_body(self.player, bet, win, request_id))
        before = _balance(first, "the first use of the request_id")
        reply = await self.sender.post(
            self.sender.make_bet_body(self.player, other_bet, other_win, request_id))
        if reply.status != 409 or reply.error is None:
            raise _Failed(f"a makeBet reusing a request_id with other amounts was answered "
                          f"{_describe(reply)}; expected 409 {{\"error\":...,\"message\":...}}")
        return await self._unchanged_since(before, f"HTTP 409 {reply.error}")

    async def concurrency_check(self) -> str:
        bet, win = self.amounts(CONCURRENT_BET)
        count = self.concurrency
        before = await self.balance_now()
        bodies = [self.sender.make_bet_body(self.player, bet, win) for _ in range(count)]
        for reply in await self.sender.concurrently(bodies):
            _balance(reply, "a concurrent makeBet")
        expected = before
        for _ in range(count):
            expected = _after(expected, bet, win)
        after = await self.balance_now()
        if after != expected:
            raise _Failed(f"{count} concurrent makeBets left {after}, expected {expected}: "
                          "updates were lost or doubled (not serialised per player)")
        return f"{count} concurrent makeBets, balance {after} as expected"

    async def overdraft_race(self) -> str:
        """Bets racing at a balance that covers one of them: at most one may be taken."""
        for _ in range(RACE_ROUNDS):
            detail = await self._overdraft_round()
        return detail

    async def _overdraft_round(self) -> str:
        before = await self.balance_now()
        if before <= 0:
            raise _Failed(f"balance {before}: nothing left to race for")
        bet, copies = covering_one(before), max(2, self.concurrency)
        replies = await self.sender.concurrently(
            [self.sender.make_bet_body(self.player, bet, Decimal(0)) for _ in range(copies)])
        accepted = [reply for reply in replies if reply.status == 200]
        after = await self.balance_now()
        if accepted:  # give the money back (a zero bet with a win), so later checks have it
            await self.sender.make_bet(self.player, Decimal(0), units(bet, len(accepted)))
        race = (f"{copies} concurrent bets of {bet} on a balance of {before} (it covers one): "
                f"{len(accepted)} taken")
        if after < 0:
            raise _Failed(f"{race}, balance left {after} (funds checked outside the lock or "
                          "transaction that moves the money?)")
        if len(accepted) > 1:
            raise _Failed(f"{race}: {len(accepted)} bets confirmed on money for one (balance "
                          f"left {after})")
        for reply in replies:
            if reply.status == 200:
                _balance(reply, "the accepted racing bet")
            else:
                _refused(reply, "a racing bet the balance no longer covered")
        expected = _EXACT.subtract(before, units(bet, len(accepted)))
        if after != expected:
            raise _Failed(f"{race}, yet the balance went from {before} to {after}")
        return f"{race}, balance {after} ({RACE_ROUNDS} rounds, money given back)"

    async def overdraft(self) -> str:
        before = await self.balance_now()
        reply = await self.sender.make_bet(self.player, above(before), Decimal("0"))
        return await self._unchanged_since(before, _refused(reply, "a bet above the balance"))


async def run_wallet_check(
    url: str,
    *,
    agent_id: int,
    api_token: str,
    player_id: str = "wallet-check-player",
    currency: str = "USD",
    concurrency: int = 8,
    callback_timeout: float = 30.0,
) -> WalletCheckReport:
    """Run every check against ``url`` and return the report (it never raises for a bad wallet).

    A wallet that is down or answers garbage fails the check it broke, with the reason; only
    the report says whether the wallet is ready. The checks move a small share of the player's
    money (amounts are sized to the balance read first), so the player must exist in the
    wallet with a balance of at least 20.

    Args:
        url: the wallet's callback URL (http or https).
        agent_id: your agent id, written into every callback.
        api_token: your API token, which signs every callback.
        player_id: the test player whose money the checks move.
        currency: the test player's currency.
        concurrency: how many ``makeBet`` callbacks race each other in the concurrency
            checks (racing copies of one delivery: at least 3).
        callback_timeout: seconds each callback may take.
    """
    from ._callbacks import CallbackSender, Player

    # "/" and "é" reach the wire as PHP writes them ("\/", "\u00e9"): a wallet that verifies a
    # re-encoded body instead of the bytes received fails here, not on a real player's name.
    player = Player(player_id, currency=currency,
                    session_id=f"wallet-check/é-{uuid.uuid4()}")
    results: list[CheckResult] = []
    async with CallbackSender(url, agent_id=agent_id, api_token=api_token,
                              timeout=callback_timeout) as sender:
        checker = _Checker(sender, player, api_token, concurrency)
        checks: list[tuple[str, Callable[[], Awaitable[str]]]] = [
            ("getBalance answered in the documented shape", checker.answer_shape),
            ("unsigned callback refused", checker.unsigned),
            ("unsigned makeBet refused, balance unchanged", checker.unsigned_bet),
            ("callback signed with another token refused", checker.forged),
            ("body altered after signing refused", checker.tampered),
            ("balance consistent after a session (start - bets + wins)", checker.session),
            ("repeated delivery applied once", checker.redelivery),
            ("copies delivered at once applied once", checker.racing_redelivery),
            ("every repeat answered with the first answer's balance", checker.repeat_answers),
            ("request_id reused with other amounts refused 409", checker.reused_request_id),
            ("concurrent callbacks for one player serialised", checker.concurrency_check),
            ("concurrent bets never take the balance below zero", checker.overdraft_race),
            ("bet above the balance refused", checker.overdraft),
        ]
        for name, check in checks:
            try:
                detail = await check()
            except _Failed as failure:
                results.append(CheckResult(name, False, str(failure)))
            except Exception as error:  # the wallet is down, or answers garbage
                results.append(CheckResult(name, False, f"{type(error).__name__}: {error}"))
            else:
                results.append(CheckResult(name, True, detail))
            if name == checks[0][0] and not results[-1].passed:
                break  # without a balance nothing else can be judged
    return WalletCheckReport(url, player_id, tuple(results))
