"""The fake platform's default catalogue: plausible games, some with a demo, some without."""

from __future__ import annotations

from typing import Final

from .._models import Game

__all__ = ["DEFAULT_GAMES"]

_CDN: Final = "https://cdn.fake-platform.test/images/games"

_TITLES: Final = (
    ("Champagne Party", "Mega", True),
    ("Book of Fortune", "Mega", False),
    ("Golden Pharaoh", "Sunrise", True),
    ("Fruit Storm 243", "Sunrise", True),
    ("Dragon's Hoard", "Northwind", True),
    ("Lucky Sevens Deluxe", "Northwind", False),
    ("Aztec Sun Hold & Win", "Pinnacle Play", True),
    ("Viking Voyage", "Pinnacle Play", True),
    ("Crystal Caverns", "Gemstone", True),
    ("Neon Nights Megaways", "Gemstone", False),
    ("Wild West Bounty", "Red Mesa", True),
    ("Ocean Pearls", "Red Mesa", True),
    ("Blackjack Classic", "TableCraft", True),
    ("European Roulette", "TableCraft", True),
    ("Baccarat Squeeze", "TableCraft", False),
    ("Live Lightning Roulette", "LiveStudio", False),
    ("Live Speed Blackjack", "LiveStudio", False),
    ("Sweet Cascade", "Candyworks", True),
    ("Mystic Fortune Teller", "Candyworks", True),
    ("Space Miner Crash", "Orbit", True),
    ("Plinko Rush", "Orbit", True),
    ("Jackpot Jester 10K", "Mega", False),
    ("Tiki Treasures", "Sunrise", True),
    ("Samurai Spirit", "Northwind", True),
)


def _slug(title: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_")


DEFAULT_GAMES: Final[tuple[Game, ...]] = tuple(
    Game(id=index, title=title, brand=brand, image_url=f"{_CDN}/{_slug(title)}.jpg", demo=demo)
    for index, (title, brand, demo) in enumerate(_TITLES, start=1)
)
"""The fake platform's catalogue unless told otherwise: 24 games with ids 1-24, some with a
demo and some without, with stable titles, brands and image URLs."""
