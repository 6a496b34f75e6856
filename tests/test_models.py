"""Models: the fast catalogue path agrees with cattrs, and leaves the process as it found it."""

from __future__ import annotations

import gc
import json

import pytest

import gameapi_async as ga
from gameapi_async._models import converter
from gameapi_async._protocol import (
    Envelope,
    RawResponse,
    parse_game_link,
    parse_game_list,
    parse_response,
)


def catalogue(size: int) -> list[dict[str, object]]:
    return [{"id": i, "title": f"T{i}", "brand": "B", "image_url": f"https://i/{i}",
             "demo": i % 2 == 0, "extra": [i]} for i in range(1, size + 1)]


def parse(games: list[dict[str, object]]) -> ga.GameList:
    body = json.dumps({"status": "success", "request_id": "r",
                       "content": {"games": games, "total": len(games)}}).encode()
    return parse_game_list(parse_response(RawResponse(200, body), now=0))


@pytest.mark.parametrize("size", [0, 1, 2500])
def test_fast_path_builds_what_the_frozen_class_would(size: int) -> None:
    games = catalogue(size)
    parsed = parse(games)
    expected = tuple(ga.Game(id=g["id"], title=g["title"], brand=g["brand"],  # type: ignore[arg-type]
                             image_url=g["image_url"], demo=g["demo"]) for g in games)
    assert parsed.games == expected
    assert all(type(g) is ga.Game for g in parsed.games)
    if parsed.games:
        with pytest.raises(AttributeError):
            parsed.games[0].id = 5  # type: ignore[misc]
        assert hash(parsed.games[0]) == hash(expected[0])


@pytest.mark.parametrize("bad", [{"id": True}, {"title": None}, {"demo": 0}, {"id": 1.0}])
def test_a_bad_game_late_in_a_big_list_is_found_and_gc_is_back_on(bad: dict[str, object]) -> None:
    games = catalogue(5000)
    games[4321] = {**games[4321], **bad}
    assert gc.isenabled()
    with pytest.raises(ga.MalformedResponseError, match=r"games\[4321\]"):
        parse(games)
    assert gc.isenabled()


def test_a_missing_field_falls_back_to_the_explaining_path() -> None:
    games = catalogue(3)
    del games[1]["brand"]
    with pytest.raises(ga.MalformedResponseError, match=r"games\[1\]\.brand"):
        parse(games)


def test_links_are_checked_on_the_fast_path_too() -> None:
    assert converter.structure({"url": "https://x", "request_id": None}, ga.GameLink) == \
        ga.GameLink(url="https://x", request_id=None)
    with pytest.raises(ga.MalformedResponseError, match=r"content\.url"):
        parse_game_link(Envelope({"url": ""}, "r", 200, None))


def test_game_list_index_and_demo_games() -> None:
    parsed = parse(catalogue(10))
    assert parsed.get(4) == parsed.games[3]
    assert parsed.get(11) is None
    assert [g.id for g in parsed.demo_games] == [2, 4, 6, 8, 10]
