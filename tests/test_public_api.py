"""The public surface: sorted, complete, importable."""

from __future__ import annotations

import gameapi_async


def test_all_is_sorted_and_unique() -> None:
    names = list(gameapi_async.__all__)
    assert names == sorted(names)
    assert len(names) == len(set(names))


def test_all_names_exist_and_public_classes_are_exported() -> None:
    for name in gameapi_async.__all__:
        assert hasattr(gameapi_async, name), name
    exported = set(gameapi_async.__all__)
    for name, value in vars(gameapi_async).items():
        if isinstance(value, type) and not name.startswith("_"):
            assert name in exported, f"{name} is public but missing from __all__"
