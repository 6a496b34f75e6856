"""Typed results: frozen, slotted attrs classes and the one cattrs converter that builds them.

The converter is strict on purpose: a game whose ``id`` is ``"7"`` or ``true`` is a broken
answer, not something to coerce, so the primitive hooks check types instead of casting. Unknown
extra fields are ignored, so the platform can add fields without breaking deployed agents.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)

__all__ = ["Game", "GameLink", "GameList", "converter", "link_of", "structure"]

T = TypeVar("T")


@attrs.frozen
class Game:
    """One game in the platform's catalogue.

    Attributes:
        id: the platform's game id: what ``get_game_link(game_id=...)`` takes.
        title: the game's display name.
        brand: the studio or provider that makes it.
        image_url: the game's tile image.
        demo: ``True`` when a demo link can be requested for this game.
    """

    id: int
    title: str
    brand: str
    image_url: str
    demo: bool  # True when a demo link can be requested for this game


@attrs.frozen
class GameList:
    """The games available to the agent, as one platform answer returned them.

    Attributes:
        games: the games, in the platform's order.
        total: the number of games the platform reported.
        request_id: the platform's id for this answer; quote it to its support.
    """

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
    """A launch URL for one player, real money or demo.

    Attributes:
        url: the absolute http(s) URL to send the player to; checked before it is returned.
        request_id: the platform's id for this answer; quote it to its support.
    """

    url: str = attrs.field(validator=attrs.validators.min_len(1))
    request_id: str | None


def _strict(expected: type[T], *, allow_bool: bool = False) -> Callable[[Any, Any], T]:
    def hook(value: Any, _: Any) -> T:
        # bool is a subclass of int: refuse it where an int is meant.
        if isinstance(value, expected) and (allow_bool or not isinstance(value, bool)):
            return value
        raise TypeError(f"expected {expected.__name__}, got {type(value).__name__}")

    return hook


_GAME_FIELDS: Final = ("id", "title", "brand", "image_url", "demo")


def _fast_games(items: list[Any]) -> tuple[Game, ...] | None:
    """Structure a catalogue in one tight loop, or ``None`` at the first irregular game.

    Catalogues reach 100k games, so the common case skips cattrs' per-field dispatch: one
    C-level ``itemgetter`` per game, exact type checks (``bool`` is not an ``int``), and
    instances filled through their slots, which is what the frozen class's ``__init__`` does
    minus the per-field indirection. Anything unusual returns ``None`` and the caller falls
    back to cattrs, which explains the problem.
    """
    pick = operator.itemgetter(*_GAME_FIELDS)
    new = object.__new__
    set_id, set_title, set_brand, set_image, set_demo = (
        getattr(Game, name).__set__ for name in _GAME_FIELDS
    )
    games: list[Game] = []
    append = games.append
    try:
        for item in items:
            game_id, title, brand, image_url, demo = pick(item)
            if not (
                type(game_id) is int
                and type(title) is str
                and type(brand) is str
                and type(image_url) is str
                and type(demo) is bool
            ):
                return None
            game = new(Game)
            set_id(game, game_id)
            set_title(game, title)
            set_brand(game, brand)
            set_image(game, image_url)
            set_demo(game, demo)
            append(game)
    except (KeyError, TypeError, IndexError):  # not a dict, or a field missing
        return None
    return tuple(games)


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
        fast = _fast_games(value)
        if fast is not None:
            return fast
        # Slow path, only on failure: let cattrs find the first bad game and say where.
        errors = []
        for index, item in enumerate(value):
            try:
                game(item, Game)
            except Exception as exc:
                note = IterableValidationNote(f"Structuring games @ index {index}", index, Game)
                exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                errors.append(exc)
                break
        if not errors:  # unreachable while the fast path and cattrs agree on what is valid
            return tuple(game(item, Game) for item in value)
        raise IterableValidationError("While structuring games", errors, tuple)

    def link(value: Any, _: Any) -> GameLink:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        return link_of(value, value.get("request_id"))

    conv.register_structure_hook_func(lambda cls: cls == tuple[Game, ...], games)
    conv.register_structure_hook(GameLink, link)
    return conv


_MISSING: Final[Any] = object()


def link_of(content: Mapping[str, Any], request_id: object) -> GameLink:
    """The :class:`GameLink` of an answer's ``content`` and ``request_id``: the one way a link
    is made from an answer (``parse_game_link`` and the converter both come here).

    A link is two fields, so they are checked here directly rather than through cattrs'
    per-field dispatch; a problem is raised the way cattrs raises it (a
    ``ClassValidationError`` whose notes name the field), so errors read the same.
    """
    url = content.get("url", _MISSING)
    if type(url) is str and url and (request_id is None or type(request_id) is str):
        return GameLink(url, request_id)
    problems: list[Exception] = []
    if url is _MISSING:
        problems.append(_noted(KeyError("url"), "url", str))
    elif not isinstance(url, str):
        problems.append(_noted(TypeError(f"expected str, got {type(url).__name__}"), "url", str))
    elif not url:
        problems.append(_noted(ValueError("must not be empty"), "url", str))
    if request_id is not None and not isinstance(request_id, str):
        problems.append(_noted(
            TypeError(f"expected str, got {type(request_id).__name__}"), "request_id", str | None
        ))
    if not problems:  # str subclasses: the plain strs they hold
        assert isinstance(url, str)
        return GameLink(str.__str__(url), None if request_id is None else str(request_id))
    raise ClassValidationError("While structuring GameLink", problems, GameLink)


def _noted(error: Exception, field: str, kind: Any) -> Exception:
    error.__notes__ = [AttributeValidationNote(f"Structuring class GameLink @ attribute {field}",
                                               field, kind)]
    return error


converter = _build_converter()


def structure(data: Mapping[str, Any], cls: type[T]) -> T:
    """Structure ``data`` into ``cls`` with the shared converter (cattrs errors propagate)."""
    return converter.structure(data, cls)
