"""Which event loop and process a client belongs to, and releasing it when that loop ends.

A client's connection pool and its cache's tasks live on one event loop in one process. Used
from another loop (a second ``asyncio.run``, pytest's per-test loops) the pool's sockets
would be driven by a loop that no longer runs; used in a forked child it would write into
connections the parent still reads. Neither can be made to work safely, so the client binds to
the loop of its first call and refuses any other at once with :class:`WrongEventLoopError`:
before any I/O, never retried, never a raw ``RuntimeError``.

A loop that ends while the client is still open (``asyncio.run`` returning, pytest-asyncio
tearing a test's loop down) would otherwise strand the pool's sockets on a closed loop, where
no later ``close()`` can release them. So binding also registers a tiny async generator with
the loop: both ``asyncio.run`` and ``asyncio.Runner`` finish every async generator of the loop
before closing it (``shutdown_asyncgens``), and finishing this one releases the client's
resources on its own loop, while it still runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncGenerator, Awaitable, Callable

from ._errors import WrongEventLoopError

__all__ = ["LoopGuard"]

_forks = 0  # how many times this process is a fork away from the one that imported the SDK


def _count_fork() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_count_fork)

_ADVICE = (
    "create one client per event loop (inside the coroutine you pass to asyncio.run, in an "
    "async fixture of the test's loop, or after the fork in each worker process)"
)


class LoopGuard:
    """The loop (and process) a client first ran on; ``release`` frees its resources there."""

    __slots__ = ("_forks", "_guard", "_loop", "_release", "released")

    def __init__(self, release: Callable[[], Awaitable[None]]) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._forks = _forks
        self._release = release
        self._guard: AsyncGenerator[None, None] | None = None
        self.released = False  # set once ``release`` has run (by close() or the loop's end)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    @property
    def forked(self) -> bool:
        """True in a process forked after the client was made: nothing here is ours to touch."""
        return self._forks != _forks

    def check(self) -> None:
        """Bind to the running loop on first use; refuse any other loop or a forked process."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._forks != _forks:
            self._bind_or_refuse(loop)

    def _bind_or_refuse(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._forks != _forks:
            raise WrongEventLoopError(
                "this client was created in a parent process and inherited by a fork; its "
                f"connections belong to the parent: {_ADVICE}"
            )
        if self._loop is not None:
            ended = " (which has ended)" if self._loop.is_closed() or self.released else ""
            raise WrongEventLoopError(
                "this client is bound to the event loop it first ran on" + ended
                + f" and cannot be used from another: {_ADVICE}"
            )
        self._loop = loop
        self._start_guard()

    def _start_guard(self) -> None:
        # Run the generator to its ``yield`` now, synchronously: its first step registers it with
        # the running loop (the loop's async-generator hooks), and nothing in it awaits before
        # the ``yield``, so that step completes at once.
        guard = self._guarding()
        _run_at_once(guard.asend(None))
        self._guard = guard

    async def _guarding(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await self.release()

    async def release(self) -> None:
        """Free the client's resources once (on the bound loop, or before any binding)."""
        if self.released:
            return
        self.released = True
        await self._release()

    def abandon(self) -> None:
        """Give up the resources without touching them: in a forked child (they are the
        parent's) or when the bound loop was closed without finishing its async generators
        (nothing can run on it any more). The guard is retired synchronously, so it never
        reaches a closed loop's finalizer."""
        self.released = True
        guard, self._guard = self._guard, None
        if guard is not None:
            _run_at_once(guard.aclose())  # its ``finally`` sees ``released``: nothing to await

    async def finish(self) -> None:
        """Release, then retire the loop guard (on the bound loop): nothing is left pending."""
        try:
            await self.release()
        finally:
            guard, self._guard = self._guard, None
            if guard is not None:
                await guard.aclose()


def _run_at_once(step: Awaitable[object]) -> None:
    """Drive an awaitable that never suspends to its end, outside any await."""
    with contextlib.suppress(StopIteration):
        step.__await__().send(None)
