"""The platform's other side: signed callbacks sent to an agent's wallet URL.

``CallbackSender`` posts ``getBalance`` and ``makeBet`` exactly as the platform does: the body
is the PHP-canonical JSON (``ksort`` + ``json_encode``), amounts as PHP floats, signed with
HMAC-SHA256 of those very bytes. It can also post what the platform never would (no signature,
a wrong one, an altered body), which is how ``gameapi wallet-check`` tests a wallet's refusals.

What the platform's documentation leaves open is chosen here, and said in docs/callbacks.md:
every callback carries a fresh ``request_id`` and a re-delivery re-sends the identical bytes
(same ``request_id``); callbacks carry no ``timestamp``, like the documented example.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, Final, Self

import aiohttp
import attrs

from .._canonical import encode_object
from .._signing import sign
from ._race import race

__all__ = ["CallbackReply", "CallbackSender", "Player"]

#: Stands for "sign the body properly" in :meth:`CallbackSender.post`.
SIGN: Final = "<sign>"


@attrs.frozen
class Player:
    """A player session as the platform knows it; ``session_id`` is per game launch.

    Attributes:
        player_id: the player's id in your wallet.
        player_username: the name sent in callbacks; ``None`` sends ``player_id`` instead.
        currency: the session's currency code.
        language: the session's language code.
        session_id: the platform's session id; a fresh one per ``Player`` unless given.
        game_id: the game the session plays.
    """

    player_id: str
    player_username: str | None = None
    currency: str = "USD"
    language: str = "en"
    session_id: str = attrs.field(factory=lambda: f"session-{uuid.uuid4()}")
    game_id: int = 1


@attrs.frozen
class CallbackReply:
    """One answer from the wallet: ``status``, ``body``, and what it means.

    Attributes:
        status: the HTTP status the wallet answered.
        body: the answer's bytes, as received.
    """

    status: int
    body: bytes = attrs.field(repr=False)

    @property
    def json(self) -> Any:
        """The decoded answer (numbers as ``Decimal``), or ``None`` when it is not JSON."""
        try:
            return json.loads(self.body, parse_float=Decimal)
        except ValueError:
            return None

    @property
    def balance(self) -> Decimal | None:
        """The balance of a documented success answer, else ``None``."""
        answer = self.json
        if self.status != 200 or not isinstance(answer, dict):
            return None
        content = answer.get("content")
        if not isinstance(content, dict):
            return None
        balance = content.get("balance")
        if type(balance) is int:
            return Decimal(balance)
        return balance if isinstance(balance, Decimal) else None

    @property
    def error(self) -> str | None:
        """The code of a documented error answer, else ``None``."""
        answer = self.json
        if (self.status >= 400 and isinstance(answer, dict)
                and isinstance(answer.get("error"), str)
                and isinstance(answer.get("message"), str)):
            return str(answer["error"])
        return None


def _php_amount(amount: Decimal) -> float:
    """The float PHP would hold for ``amount``; refused unless it prints back the same."""
    value = float(amount)
    if Decimal(repr(value)) != amount:
        raise ValueError(f"amount {amount} is not exactly what a PHP float would send")
    return value


class CallbackSender:
    """Posts signed callbacks to one wallet URL: ``async with CallbackSender(url, ...) as s:``.

    ``timeout`` bounds each callback, in seconds. The HTTP session is opened on the first post
    and closed by ``aclose()`` (or leaving the ``async with``); the token is never in the repr.

    Attributes:
        url: the wallet's callback URL every callback is posted to.
        agent_id: the agent id written into every callback body.
    """

    def __init__(self, url: str, *, agent_id: int, api_token: str, timeout: float = 30.0) -> None:
        self.url = url
        self.agent_id = agent_id
        self._token = api_token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session; posting afterwards opens a new one."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def __repr__(self) -> str:
        return f"CallbackSender({self.url!r}, agent_id={self.agent_id}, api_token=<hidden>)"

    # -- bodies -----------------------------------------------------------------------------

    def get_balance_body(self, player: Player) -> bytes:
        """The bytes of a ``getBalance`` for ``player``, as the platform would encode them."""
        return encode_object(self._common(player, "getBalance"))

    def make_bet_body(self, player: Player, bet: Decimal, win: Decimal,
                      request_id: str | None = None) -> bytes:
        """The bytes of a ``makeBet``: amounts as PHP floats, a fresh ``request_id`` unless given.

        ``ValueError`` when an amount is not exactly what a PHP float would send (more digits
        than a double holds), since the platform could not send it either.
        """
        data = self._common(player, "makeBet", request_id)
        data["bet"] = _php_amount(bet)
        data["win"] = _php_amount(win)
        return encode_object(data)

    def _common(self, player: Player, kind: str, request_id: str | None = None) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "session_id": player.session_id,
            "player_id": player.player_id,
            "player_username": player.player_username or player.player_id,
            "type": kind,
            "currency": player.currency,
            "language": player.language,
            "game_id": player.game_id,
            "request_id": request_id or f"cb-{uuid.uuid4()}",
        }

    # -- sending ----------------------------------------------------------------------------

    async def post(self, body: bytes, *, signature: str | None = SIGN) -> CallbackReply:
        """Post ``body``; ``signature=None`` sends none, any other string sends it as is."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.post(self.url, data=body,
                                      headers=self._headers(body, signature)) as response:
            return CallbackReply(response.status, await response.read())

    def _headers(self, body: bytes, signature: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Signature"] = sign(self._token, body) if signature == SIGN else signature
        return headers

    async def send(self, data: Mapping[str, Any]) -> CallbackReply:
        """Sign and post any body (PHP-canonical): for callback types this class has no helper."""
        return await self.post(encode_object(data))

    async def get_balance(self, player: Player) -> CallbackReply:
        """Post a signed ``getBalance`` for ``player``."""
        return await self.post(self.get_balance_body(player))

    async def make_bet(self, player: Player, bet: Decimal, win: Decimal) -> CallbackReply:
        """Post a signed ``makeBet`` debiting ``bet`` and crediting ``win`` for ``player``."""
        return await self.post(self.make_bet_body(player, bet, win))

    async def play_session(self, player: Player,
                           rounds: Sequence[tuple[Decimal, Decimal]]) -> list[CallbackReply]:
        """What a launched game does: ``getBalance``, then one ``makeBet`` per ``(bet, win)``
        round in order, then ``getBalance`` again. Returns every reply."""
        replies = [await self.get_balance(player)]
        for bet, win in rounds:
            replies.append(await self.make_bet(player, bet, win))
        replies.append(await self.get_balance(player))
        return replies

    async def redeliver(self, body: bytes, times: int) -> list[CallbackReply]:
        """Post the very same signed bytes ``times`` times in a row (a platform retry)."""
        return [await self.post(body) for _ in range(times)]

    async def concurrently(self, bodies: Sequence[bytes]) -> list[CallbackReply]:
        """Post all ``bodies`` (signed) at the same moment: one player's callbacks racing.

        Each goes on a connection of its own, opened beforehand; every request is written but
        for its last byte, then all the last bytes back to back, so the requests complete at
        the wallet within microseconds of each other instead of staggered by connection setup,
        and a race window as narrow as one turn of the wallet's event loop is exercised.
        Replies come in the order of ``bodies``.
        """
        answers = await race(self.url, [(body, self._headers(body, SIGN)) for body in bodies],
                             self._timeout.total or 30.0)
        return [CallbackReply(status, body) for status, body in answers]
