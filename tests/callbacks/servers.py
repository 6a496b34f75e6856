"""The callback handler served by real servers over real sockets: aiohttp's own, uvicorn and
hypercorn (both with their own auto-detection of the ASGI version, as a user runs them).

Each server runs on an event loop in a thread of its own, on a socket bound and listening
before it starts: a client may connect at once (the kernel queues the connection until the
server accepts it), so nothing waits for readiness. Stopping waits for the thread with a
generous deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from gameapi_async.callbacks import CallbackHandler

SERVERS = ("aiohttp", "uvicorn", "hypercorn")
STOP_DEADLINE = 60.0


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def _aiohttp(handler: CallbackHandler, sock: socket.socket, stop: asyncio.Event,
                   app_settings: dict[str, Any]) -> None:
    from aiohttp import web

    app = web.Application(**app_settings)
    app.router.add_post("/callback", handler.aiohttp_handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        await stop.wait()
    finally:
        await runner.cleanup()


async def _uvicorn(handler: CallbackHandler, sock: socket.socket, stop: asyncio.Event,
                   app_settings: dict[str, Any]) -> None:
    import uvicorn

    # The defaults a user gets (interface and lifespan "auto"); lifespan "on" would hide
    # whether detection works, so it is checked from the log instead (lifespan_log).
    config = uvicorn.Config(handler.asgi_app, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await stop.wait()
    server.should_exit = True
    await task


async def _hypercorn(handler: CallbackHandler, sock: socket.socket, stop: asyncio.Event,
                     app_settings: dict[str, Any]) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    # hypercorn wraps the descriptor in a socket of its own and closes it: give it a copy, so
    # closing ours later cannot close a descriptor number reused by then.
    config.bind = [f"fd://{os.dup(sock.fileno())}"]
    config.accesslog = None
    config.graceful_timeout = 1.0
    await serve(handler.asgi_app, config,  # type: ignore[arg-type]
                shutdown_trigger=stop.wait)  # type: ignore[arg-type]


_RUNNERS: dict[str, Callable[..., Coroutine[Any, Any, None]]] = {
    "aiohttp": _aiohttp, "uvicorn": _uvicorn, "hypercorn": _hypercorn,
}


@contextlib.contextmanager
def serving(kind: str, handler: CallbackHandler,
            **app_settings: Any) -> Iterator[tuple[str, int]]:
    """``(host, port)`` of ``handler`` served by ``kind``; stopped on exit.

    ``app_settings`` go to ``aiohttp.web.Application`` (``client_max_size``, middlewares).
    """
    sock = _listening_socket()
    host, port = sock.getsockname()[:2]
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(_RUNNERS[kind](handler, sock, stop, app_settings))
        except BaseException as error:  # reported by the test thread on exit
            failure.append(error)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name=f"callbacks-{kind}", daemon=True)
    thread.start()
    try:
        yield host, port
    finally:
        with contextlib.suppress(RuntimeError):  # the loop already ended (and failed)
            loop.call_soon_threadsafe(stop.set)
        thread.join(STOP_DEADLINE)
        with contextlib.suppress(OSError):
            sock.close()
    assert not thread.is_alive(), f"{kind} did not stop within {STOP_DEADLINE} s"
    if failure:
        raise failure[0]


class Records(logging.Handler):
    """Every log record from any thread, and an event set on each one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.arrived = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.arrived.set()


@contextlib.contextmanager
def recording_logs(*names: str) -> Iterator[Records]:
    records = Records()
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(records)
        logger.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(records)
            logger.setLevel(level)
