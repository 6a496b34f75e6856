"""The innermost handler of the pipeline: stamp, sign, send and decipher one attempt."""

from __future__ import annotations

from ._clock import Clock
from ._pipeline import Call, Reply
from ._protocol import build_request, decipher
from ._signing import Signer
from ._transport import Transport

__all__ = ["Sender"]


class Sender:
    """Sends exactly one attempt of a call; every invocation gets a fresh timestamp."""

    __slots__ = ("_agent_id", "_clock", "_signer", "_transport")

    def __init__(self, *, agent_id: int, signer: Signer, transport: Transport, clock: Clock):
        self._agent_id = agent_id
        self._signer = signer
        self._transport = transport
        self._clock = clock

    def __repr__(self) -> str:
        return f"Sender(agent_id={self._agent_id})"

    async def __call__(self, call: Call) -> Reply:
        sent_at = self._clock.time()
        request = build_request(
            call.endpoint,
            call.params,
            agent_id=self._agent_id,
            timestamp=int(sent_at + call.clock_offset),
            signer=self._signer,
        )
        response = await self._transport.send(request, call.options)
        received_at = self._clock.time()
        envelope = decipher(response, now=received_at)
        return Reply(envelope, sent_at, received_at, call.attempt)
