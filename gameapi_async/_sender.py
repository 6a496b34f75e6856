"""The innermost handler of the pipeline: stamp, sign, send and parse one attempt."""

from __future__ import annotations

import time

from ._clock import Clock, SystemClock
from ._pipeline import Call, Reply
from ._protocol import _build_request, parse_response
from ._signing import Signer
from ._transport import Transport

__all__ = ["Sender"]


class Sender:
    """Sends exactly one attempt of a call; every invocation gets a fresh timestamp."""

    __slots__ = ("_agent_id", "_clock", "_now", "_signer", "_transport")

    def __init__(self, *, agent_id: int, signer: Signer, transport: Transport, clock: Clock):
        self._agent_id = agent_id
        self._signer = signer
        self._transport = transport
        self._clock = clock
        # The system clock read directly: one call fewer, twice per attempt.
        self._now = time.time if type(clock) is SystemClock else clock.time

    def __repr__(self) -> str:
        return f"Sender(agent_id={self._agent_id})"

    async def __call__(self, call: Call) -> Reply:
        now = self._now
        sent_at = now()
        request = _build_request(
            call.endpoint, call.params, self._agent_id, int(sent_at + call.clock_offset),
            self._signer,
        )
        response = await self._transport.send(request, call.options)
        received_at = now()
        envelope = parse_response(response, now=received_at)
        return Reply(envelope, sent_at, received_at, call.attempt)
