"""``gameapi wallet-check URL``: a conformance check of an agent's wallet endpoint.

It plays the platform against the URL with :class:`CallbackSender` and reports, check by
check, what passed and what failed and why. The checks follow the platform's documentation and
common seamless-wallet practice (docs/callbacks.md): forged and unsigned callbacks refused,
answers in the documented shapes, balances consistent after a session, repeated deliveries not
applied twice, one player's concurrent callbacks serialised, overdrafts refused.

The player it uses must exist in the wallet with enough balance for a few small bets; the
checks move money (and leave it where a correct wallet ends up: a few units lower).
"""

from __future__ import annotations

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

#: (bet, win) rounds of the session check: losses, wins and a zero bet (a free spin's win).
SESSION: Final = (
    (Decimal("1.00"), Decimal("0")),
    (Decimal("2.50"), Decimal("5.00")),
    (Decimal("0.10"), Decimal("0")),
    (Decimal("0"), Decimal("1.20")),
    (Decimal("3.00"), Decimal("0.30")),
)
CONCURRENT_BET: Final = Decimal("0.50")
CONCURRENT_WIN: Final = Decimal("0.20")
#: (bet, win) re-delivered in a row, and another re-delivered all at once (a platform retry
#: racing the original, which is still being handled).
SEQUENTIAL_REDELIVERY: Final = (Decimal("1.00"), Decimal("0.40"))
CONCURRENT_REDELIVERY: Final = (Decimal("0.70"), Decimal("0.20"))
REDELIVERIES: Final = 3
NEEDED: Final = Decimal("20")  # balance the player needs for the money-moving checks
_BALANCE_TEXT: Final = re.compile(rb'"balance"\s*:\s*(-?[0-9][0-9.eE+-]*)')


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


class _Checker:
    def __init__(self, sender: CallbackSender, player: Player, api_token: str) -> None:
        self.sender = sender
        self.player = player
        self._token = api_token

    async def balance_now(self) -> Decimal:
        return _balance(await self.sender.get_balance(self.player), "getBalance")

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
        return f"balance {balance}"

    async def unsigned(self) -> str:
        reply = await self.sender.post(self.sender.get_balance_body(self.player), signature=None)
        return _refused(reply, "a getBalance without X-Signature")

    async def forged(self) -> str:
        body = self.sender.get_balance_body(self.player)
        reply = await self.sender.post(body, signature=sign("not-the-agent-token", body))
        return _refused(reply, "a getBalance signed with another token")

    async def tampered(self) -> str:
        before = await self.balance_now()
        signed_body = self.sender.make_bet_body(self.player, Decimal("1.00"), Decimal("0"))
        altered = signed_body.replace(b'"bet":1', b'"bet":9', 1)
        reply = await self.sender.post(altered, signature=sign(self._token, signed_body))
        verdict = _refused(reply, "a makeBet whose body was altered after signing")
        after = await self.balance_now()
        if after != before:
            raise _Failed(f"refused, but the balance moved from {before} to {after}")
        return verdict

    async def session(self) -> str:
        replies = await self.sender.play_session(self.player, SESSION)
        expected = start = _balance(replies[0], "getBalance at launch")
        for (bet, win), reply in zip(SESSION, replies[1:-1], strict=True):
            expected = expected - bet + win
            got = _balance(reply, f"makeBet(bet={bet}, win={win})")
            if got != expected:
                raise _Failed(f"makeBet(bet={bet}, win={win}) answered {got}, expected {expected}")
        final = _balance(replies[-1], "getBalance after the session")
        if final != expected:
            raise _Failed(f"final balance {final}, expected {expected} (start {start} - bets "
                          f"+ wins)")
        return f"{len(SESSION)} rounds, {start} -> {final} as expected"

    async def redelivery(self) -> str:
        await self._applied_once(SEQUENTIAL_REDELIVERY, "in a row",
                                 lambda body: self.sender.redeliver(body, REDELIVERIES))
        await self._applied_once(CONCURRENT_REDELIVERY, "at once",
                                 lambda body: self.sender.concurrently([body] * REDELIVERIES))
        return f"{REDELIVERIES} deliveries in a row and {REDELIVERIES} at once, money moved once"

    async def _applied_once(
        self, amounts: tuple[Decimal, Decimal], how: str,
        deliver: Callable[[bytes], Awaitable[list[CallbackReply]]],
    ) -> None:
        """Deliver one signed makeBet several times; the money must move exactly once.

        "At once" catches a wallet that looks its delivery key up outside the lock or
        transaction that moves the money: a retry racing the original is applied twice.
        """
        bet, win = amounts
        before = await self.balance_now()
        replies = await deliver(self.sender.make_bet_body(self.player, bet, win))
        expected = before - bet + win
        if how == "in a row":
            first = _balance(replies[0], "the first delivery")
            if first != expected:
                raise _Failed(f"the first delivery answered {first}, expected {expected}")
        elif expected not in {reply.balance for reply in replies}:
            raise _Failed(f"no delivery {how} answered the expected balance {expected}: "
                          + "; ".join(_describe(reply) for reply in replies))
        after = await self.balance_now()
        if after != expected:
            moved = (before - after) / (bet - win)
            raise _Failed(f"{REDELIVERIES} deliveries {how}: balance {after}, expected "
                          f"{expected}: the same makeBet was applied {moved.normalize()} times")
        for reply in replies:
            if reply.balance is None and reply.error is None:
                raise _Failed(f"a repeated delivery got an undocumented answer: "
                              f"{_describe(reply)}")

    async def concurrency(self, count: int) -> str:
        before = await self.balance_now()
        bodies = [self.sender.make_bet_body(self.player, CONCURRENT_BET, CONCURRENT_WIN)
                  for _ in range(count)]
        replies = await self.sender.concurrently(bodies)
        for reply in replies:
            _balance(reply, "a concurrent makeBet")
        expected = before - count * (CONCURRENT_BET - CONCURRENT_WIN)
        after = await self.balance_now()
        if after != expected:
            raise _Failed(f"{count} concurrent makeBets left {after}, expected {expected}: "
                          "updates were lost or doubled (not serialised per player)")
        return f"{count} concurrent makeBets, balance {after} as expected"

    async def overdraft(self) -> str:
        before = await self.balance_now()
        reply = await self.sender.make_bet(self.player, before + Decimal("1000"), Decimal("0"))
        verdict = _refused(reply, "a bet larger than the balance")
        after = await self.balance_now()
        if after != before:
            raise _Failed(f"refused, but the balance moved from {before} to {after}")
        return verdict


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
    the report says whether the wallet is ready. The checks move a few units of the player's
    money, so the player must exist in the wallet with a balance of at least 20.

    Args:
        url: the wallet's callback URL (http or https).
        agent_id: your agent id, written into every callback.
        api_token: your API token, which signs every callback.
        player_id: the test player whose money the checks move.
        currency: the test player's currency.
        concurrency: how many ``makeBet`` callbacks race each other in the serialisation check.
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
        checker = _Checker(sender, player, api_token)
        checks: list[tuple[str, Callable[[], Awaitable[str]]]] = [
            ("getBalance answered in the documented shape", checker.answer_shape),
            ("unsigned callback refused", checker.unsigned),
            ("callback signed with another token refused", checker.forged),
            ("body altered after signing refused", checker.tampered),
            ("balance consistent after a session (start - bets + wins)", checker.session),
            ("repeated delivery applied once", checker.redelivery),
            ("concurrent callbacks for one player serialised",
             lambda: checker.concurrency(concurrency)),
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
