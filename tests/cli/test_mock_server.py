"""``gameapi mock-server``: settings that work as printed, in a form a shell can evaluate."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

import pytest

from gameapi_async.cli import main
from gameapi_async.testing import FakePlatform


def _server(*extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gameapi_async", "mock-server", "--port", "0", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _exports(lines: list[str]) -> dict[str, str]:
    """What a shell would set by evaluating ``lines`` (each ``export NAME=VALUE``)."""
    found: dict[str, str] = {}
    for line in lines:
        words = shlex.split(line)
        assert words[0] == "export", line
        name, _, value = words[1].partition("=")
        found[name] = value
    return found


def _games(settings: dict[str, str]) -> dict[str, object]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["games", "--base-url", settings["GAMEAPI_BASE_URL"], "--agent-id",
                 settings["GAMEAPI_AGENT_ID"], "--api-token", settings["GAMEAPI_API_TOKEN"],
                 "--json"], out=out, err=err)
    assert code == 0, out.getvalue() + err.getvalue()
    assert err.getvalue() == ""
    result: dict[str, object] = json.loads(out.getvalue())
    return result


@pytest.mark.parametrize(("host", "loopback"), [("0.0.0.0", "http://127.0.0.1:"),
                                                ("::", "http://[::1]:")])
def test_every_address_prints_loopback_settings_that_work(host: str, loopback: str) -> None:
    proc = _server("--host", host, "--api-token", "tok en'quoted")
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith(f"Fake platform listening on every address ({host}), port ")
        assert first.split("from this machine: ")[1].strip().startswith(loopback)
        settings = _exports([proc.stdout.readline().strip() for _ in range(3)])
        assert settings["GAMEAPI_BASE_URL"].startswith(loopback)
        assert settings["GAMEAPI_API_TOKEN"] == "tok en'quoted"
        assert proc.stdout.readline() == "Press Ctrl+C to stop.\n"
        assert _games(settings)["total"] == 24  # no --allow-insecure-http needed
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert err == ""
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.communicate()


async def test_fake_platform_on_every_address_names_loopback() -> None:
    async with FakePlatform(host="0.0.0.0") as fake:
        assert fake.base_url.startswith("http://127.0.0.1:")
    async with FakePlatform(host="::") as fake:
        assert fake.base_url.startswith("http://[::1]:")
    async with FakePlatform(host="127.0.0.1") as fake:
        assert fake.base_url.startswith("http://127.0.0.1:")


def _refuses_connections(url: str, deadline: float) -> bool:
    host, _, port = url.removeprefix("http://").rpartition(":")
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
        except OSError:
            return True
        time.sleep(0.2)
    return False


def test_print_env_under_eval_sets_the_variables_and_keeps_serving() -> None:
    # The pattern docs/cli.md gives: the server goes on in the background, `$(...)` returns
    # as soon as the export lines are out, and GAMEAPI_MOCK_PID stops it.
    script = """
        eval "$("$PY" -m gameapi_async mock-server --port 0 --host 0.0.0.0 --print-env &)"
        echo "pid=$GAMEAPI_MOCK_PID url=$GAMEAPI_BASE_URL"
        "$PY" -m gameapi_async games --json > "$OUT"
        echo "games=$?"
        kill "$GAMEAPI_MOCK_PID"
    """
    out_file = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"gameapi-eval-{os.getpid()}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAMEAPI_")}
    env.update(PY=sys.executable, OUT=out_file)
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                            timeout=90, check=False)
    lines = dict(word.split("=", 1) for word in result.stdout.split() if "=" in word)
    pid = int(lines.get("pid") or 0)
    try:
        assert pid > 0, result.stdout + result.stderr
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert lines["url"].startswith("http://127.0.0.1:")
        assert lines["games"] == "0"
        with open(out_file, encoding="utf-8") as file:
            assert json.load(file)["total"] == 24
        assert _refuses_connections(lines["url"], time.monotonic() + 30)
    finally:
        if pid > 0:
            with_suppressed_kill(pid)
        if os.path.exists(out_file):
            os.unlink(out_file)


def with_suppressed_kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_print_env_prints_only_export_lines_then_closes_stdout() -> None:
    proc = _server("--print-env", "--api-token", "t0k")
    try:
        assert proc.stdout is not None
        # read() returns at end of file: the server closed its stdout while still serving.
        settings = _exports(proc.stdout.read().splitlines())
        assert proc.poll() is None
        assert set(settings) == {"GAMEAPI_BASE_URL", "GAMEAPI_AGENT_ID", "GAMEAPI_API_TOKEN",
                                 "GAMEAPI_MOCK_PID"}
        assert int(settings["GAMEAPI_MOCK_PID"]) == proc.pid
        assert _games(settings)["total"] == 24
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert proc.stderr is not None
        assert proc.stderr.read() == ""
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
