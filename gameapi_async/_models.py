"""Typed results: frozen, slotted attrs classes and the one cattrs converter that builds them.

The converter is strict on purpose: a game whose ``id`` is ``"7"`` or ``true`` is a broken
answer, not something to coerce, so the primitive hooks check types instead of casting. Unknown
extra fields are ignored, so the platform can add fields without breaking deployed agents.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import IterableValidationError, IterableValidationNote

__all__ = ["Game", "GameLink", "GameList", "converter", "structure"]

T = TypeVar("T")


@attrs.frozen
class Game:
    """One game in the platform's catalogue."""

    id: int
    title: str
    brand: str
    image_url: str
    demo: bool  # True when a demo link can be requested for this game


@attrs.frozen
class GameList:
    """The games available to the agent, as one platform answer returned them."""

    games: tuple[Game, ...]
    total: int
    request_id: str | None  # the platform's id for this answer; quote it to its support

    def get(self, game_id: int) -> Game | None:
        """The game with this id, or ``None``; O(1) after the first lookup on this list."""
        return self._index.get(game_id)

    @functools.cached_property
    def _index(self) -> dict[int, Game]:
        return {game.id: game for game in self.games}

    @functools.cached_property
    def demo_games(self) -> tuple[Game, ...]:
        """Only the games a demo link can be requested for."""
        return tuple(game for game in self.games if game.demo)


@attrs.frozen
class GameLink:
    """A launch URL for one player, real money or demo."""

    url: str = attrs.field(validator=attrs.validators.min_len(1))
    request_id: str | None


def _strict(expected: type[T], *, allow_bool: bool = False) -> Callable[[Any, Any], T]:
    def hook(value: Any, _: Any) -> T:
        # bool is a subclass of int: refuse it where an int is meant.
        if isinstance(value, expected) and (allow_bool or not isinstance(value, bool)):
            return value
        raise TypeError(f"expected {expected.__name__}, got {type(value).__name__}")

    return hook


def _build_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True)
    conv.register_structure_hook(int, _strict(int))
    conv.register_structure_hook(str, _strict(str))
    conv.register_structure_hook(bool, _strict(bool, allow_bool=True))
    game = conv.get_structure_hook(Game)

    def games(value: Any, _: Any) -> tuple[Game, ...]:
        # Only a JSON array is a list of games; cattrs would happily iterate a string or dict.
        if not isinstance(value, list):
            raise TypeError(f"expected a list of games, got {type(value).__name__}")
        try:
            return tuple(game(item, Game) for item in value)
        except Exception:
            pass
        # Slow path, only on failure: find the first bad game and say where it is.
        errors = []
        for index, item in enumerate(value):
            try:
                game(item, Game)
            except Exception as exc:
                note = IterableValidationNote(f"Structuring games @ index {index}", index, Game)
                exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                errors.append(exc)
                break
        raise IterableValidationError("While structuring games", errors, tuple)

    conv.register_structure_hook_func(lambda cls: cls == tuple[Game, ...], games)
    return conv


converter = _build_converter()


def structure(data: Mapping[str, Any], cls: type[T]) -> T:
    """Structure ``data`` into ``cls`` with the shared converter (cattrs errors propagate)."""
    return converter.structure(data, cls)
