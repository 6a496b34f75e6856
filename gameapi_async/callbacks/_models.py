"""Typed callbacks: only the fields the platform documents, plus the whole verified body.

The documentation shows ``getBalance`` and ``makeBet``; anything else (a rollback, whose name is
undocumented) arrives as a plain :class:`Callback`. Every callback keeps ``data``, the complete
verified body as a read-only mapping, so fields the documentation does not show (a transaction
id, say) are reachable without this SDK guessing their names or types.

The classes are slotted but not frozen: a frozen attrs class costs about 2 µs more to build,
which is a tenth of the whole verification budget (benchmarks/callbacks.py). ``data`` is
read-only; treat the rest as read-only too.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

import attrs

__all__ = ["GET_BALANCE", "MAKE_BET", "Callback", "GetBalance", "MakeBet"]

GET_BALANCE: Final = "getBalance"
MAKE_BET: Final = "makeBet"


@attrs.define(kw_only=True)
class Callback:
    """A verified callback of any ``type``.

    ``body`` is the exact bytes whose signature was checked: a stable key for "this very
    delivery" when no documented identifier fits (see docs/callbacks.md, idempotency).

    Attributes:
        type: the callback's ``type`` as sent (``getBalance``, ``makeBet``, or another).
        agent_id: the agent the callback is for; always this handler's agent.
        request_id: the platform's unique id of this request, or ``None`` when absent (the
            older documentation page does not show it).
        data: the whole verified body as a read-only mapping, numbers as ``Decimal``: where
            undocumented fields (a transaction id) are found.
        body: the exact bytes whose signature was verified.
    """

    type: str
    agent_id: int
    request_id: str | None = None
    data: Mapping[str, Any] = attrs.field(repr=False, eq=False)
    body: bytes = attrs.field(repr=False)


@attrs.define(kw_only=True)
class GetBalance(Callback):
    """``getBalance``: at launch and periodically; answer the player's balance.

    Attributes:
        session_id: the game session the platform opened for this launch.
        player_id: your id of the player, as given to ``get_game_link``.
        player_username: the player's name, as given to ``get_game_link``.
        currency: the session's currency code.
        language: the session's language code.
        game_id: the game being played, or ``None`` (shown on the newer documentation page only).
        freespins: the free-spins details as a read-only mapping, or ``None``; their fields are
            not documented, so they are not typed.
    """

    session_id: str
    player_id: str
    player_username: str
    currency: str
    language: str
    game_id: int | None = None  # newer documentation page
    freespins: Mapping[str, Any] | None = attrs.field(default=None, repr=False, eq=False)


@attrs.define(kw_only=True)
class MakeBet(Callback):
    """``makeBet``: debit ``bet``, credit ``win``, answer the new balance.

    Both amounts are ``Decimal`` exactly as the platform wrote them and never negative.

    Attributes:
        session_id: the game session the platform opened for this launch.
        player_id: your id of the player, as given to ``get_game_link``.
        currency: the session's currency code.
        bet: the amount to debit, exactly as sent (``0`` for a free spin).
        win: the amount to credit, exactly as sent (``0`` for a lost round).
        player_username: the player's name, or ``None`` when the platform omits it.
        language: the session's language code, or ``None`` when omitted.
        game_id: the game being played, or ``None`` when omitted.
    """

    session_id: str
    player_id: str
    currency: str
    bet: Decimal
    win: Decimal
    player_username: str | None = None
    language: str | None = None
    game_id: int | None = None
