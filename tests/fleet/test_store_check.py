"""``games_store=`` takes any object answering the store's methods, the same on every Python:
a wrapper that delegates through ``__getattr__`` (one adding metrics, say) is a store, and an
object that cannot answer is refused before any I/O, naming the keyword."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gameapi_async import GameApiClient, InvalidParameterError, RedisGameListStore
from gameapi_async.testing import FakePlatform

from .conftest import FLEET_AGENT, FLEET_TOKEN, list_requests

MakeClient = Callable[..., GameApiClient]
MakeStore = Callable[..., RedisGameListStore]


class Delegating:
    """Holds nothing of its own: every attribute, ``settings`` included, comes from the wrapped
    store through ``__getattr__`` (invisible to a static attribute lookup)."""

    def __init__(self, store: RedisGameListStore) -> None:
        self._store = store
        self.looked_up: list[str] = []

    def __getattr__(self, name: str) -> object:
        self.looked_up.append(name)
        return getattr(self._store, name)


async def test_a_store_delegating_through_getattr_is_accepted_and_shared(
    platform: FakePlatform, make_store: MakeStore, make_fleet_client: MakeClient
) -> None:
    wrapped = Delegating(make_store())
    writer = make_fleet_client(games_store=wrapped)
    reader = make_fleet_client(games_store=make_store())
    first = await writer.list_games()
    second = await reader.list_games()  # from the list the wrapper wrote to Redis
    assert list_requests(platform) == 1
    assert second.games == first.games
    assert {"acquire", "write"} <= set(wrapped.looked_up)


class NotQuiteAStore:
    def __init__(self, store: RedisGameListStore) -> None:
        self.settings = store.settings
        self.peek = store.peek
        self.read = "not callable"


@pytest.mark.parametrize(
    ("make_wrong", "named"),
    [
        (lambda store: object(), "settings (a StoreSettings), peek, read, acquire"),
        (NotQuiteAStore, "without read, acquire, renew, release, write, drop, back_off"),
        (lambda store: store.settings, "peek"),  # the settings alone are not a store
    ],
)
async def test_an_object_that_cannot_answer_is_refused_naming_games_store(
    platform: FakePlatform, make_store: MakeStore,
    make_wrong: Callable[[RedisGameListStore], object], named: str,
) -> None:
    with pytest.raises(InvalidParameterError) as raised:
        GameApiClient(base_url=platform.base_url, agent_id=FLEET_AGENT, api_token=FLEET_TOKEN,
                      games_store=make_wrong(make_store()))
    assert raised.value.field == "games_store"
    assert named in str(raised.value)
    assert list_requests(platform) == 0
