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

import argparse
import json
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, TextIO
from urllib.parse import urlsplit

import attrs

from .. import _cli_options as option
from .._config import ENV_AGENT_ID, ENV_API_TOKEN, check_api_token
from .._errors import InvalidParameterError
from .._signing import sign

if TYPE_CHECKING:  # aiohttp is imported when the check runs, not when the CLI parses
    from ._callbacks import CallbackReply, CallbackSender, Player

__all__ = ["CheckResult", "WalletCheckReport", "add_parser", "run", "run_wallet_check"]

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
        balance = _balance(reply, "getBalance")
        answer = reply.json
        if set(answer) != {"content"}:
            raise _Failed(f"answer has keys besides content: {sorted(answer)}")
        written = _BALANCE_TEXT.search(reply.body)
        if written is None or b"e" in written.group(1).lower():
            raise _Failed(f"balance not written as a plain number: {_describe(reply)}")
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
        before = await self.balance_now()
        body = self.sender.make_bet_body(self.player, Decimal("1.00"), Decimal("0.40"))
        replies = await self.sender.redeliver(body, 3)
        expected = before - Decimal("1.00") + Decimal("0.40")
        first = _balance(replies[0], "the first delivery")
        if first != expected:
            raise _Failed(f"the first delivery answered {first}, expected {expected}")
        after = await self.balance_now()
        if after != expected:
            moved = (before - after) / Decimal("0.60")
            raise _Failed(f"balance {after}, expected {expected}: the same makeBet was applied "
                          f"{moved.normalize()} times")
        for reply in replies[1:]:
            if reply.balance is None and reply.error is None:
                raise _Failed(f"a repeated delivery got an undocumented answer: "
                              f"{_describe(reply)}")
        return "3 deliveries, money moved once"

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

    player = Player(player_id, currency=currency, session_id=f"wallet-check-{uuid.uuid4()}")
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


# -- the command ------------------------------------------------------------------------------


def add_parser(commands: Any) -> None:
    """Register ``wallet-check`` on the CLI's subparsers."""
    parser = commands.add_parser(
        "wallet-check", help="check a running wallet callback endpoint before go-live",
        description="Send signed getBalance and makeBet callbacks to URL as the platform "
        "would, and report which conformance checks pass. Moves a few units of money of "
        "the given player, who must exist with a balance of at least 20.",
    )
    parser.add_argument("url", metavar="URL", help="the wallet's callback URL")
    parser.add_argument("--agent-id", help=f"your agent id (default ${ENV_AGENT_ID})")
    parser.add_argument("--api-token", help=f"your API token (default ${ENV_API_TOKEN})")
    parser.add_argument("--player-id", type=option.parameter("player_id"),
                        default="wallet-check-player",
                        help="the test player (default: wallet-check-player)")
    parser.add_argument("--currency", type=option.parameter("currency"), default="USD",
                        help="default: USD")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="concurrent makeBets in the serialisation check (default 8)")
    parser.add_argument("--timeout", type=option.timeout, default=30.0,
                        help="seconds per callback (default 30)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _credentials(args: argparse.Namespace) -> tuple[int, str]:
    """The agent id and token, from the flags or the environment, by the SDK's own rules."""
    agent_text, agent_name = args.agent_id, "--agent-id"
    if agent_text is None:
        agent_text, agent_name = os.environ.get(ENV_AGENT_ID), ENV_AGENT_ID
    token, token_name = args.api_token, "--api-token"
    if token is None:
        token, token_name = os.environ.get(ENV_API_TOKEN), ENV_API_TOKEN
    if not agent_text and agent_name == ENV_AGENT_ID:
        raise InvalidParameterError("--agent-id", f"not given, and {ENV_AGENT_ID} is not set")
    if not token and token_name == ENV_API_TOKEN:
        raise InvalidParameterError("--api-token", f"not given, and {ENV_API_TOKEN} is not set")
    agent_id = option.agent_id_from(agent_name, agent_text or "")
    try:
        check_api_token(token or "")
    except InvalidParameterError as error:
        raise option.in_flag_terms(error, token_name) from None
    return agent_id, token or ""


def _check_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise InvalidParameterError("URL", "is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameterError("URL", "must be an absolute http(s) URL")
    return url


async def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The command: 0 when every check passed, 1 when any failed; 2 (raised) for bad usage."""
    url = _check_url(args.url)
    agent_id, token = _credentials(args)
    if not 1 <= args.concurrency <= 256:
        raise InvalidParameterError("--concurrency", "must be between 1 and 256")
    report = await run_wallet_check(url, agent_id=agent_id, api_token=token,
                                    player_id=args.player_id, currency=args.currency,
                                    concurrency=args.concurrency,
                                    callback_timeout=args.timeout)
    if args.json:
        print(json.dumps(report.as_json(), indent=2), file=out)
    else:
        print(report.text(), file=out)
    return 0 if report.passed else 1
