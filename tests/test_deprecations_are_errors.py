"""Our own code calling anything deprecated fails the suite on the Python that deprecates it
(pyproject.toml's filterwarnings), so a 3.14 deprecation is found by the 3.14 run, not by
users on 3.16. A warning counts as ours when it is attributed to one of our modules."""

from __future__ import annotations

import warnings

import pytest


@pytest.mark.parametrize(
    ("module", "category"),
    [(module, DeprecationWarning) for module in (
        "gameapi_async", "gameapi_async._client", "gameapi_async.fleet._redis",
        "benchmarks.fleet", "wallet_service", "wallet_db")]
    + [("gameapi_async.callbacks._verify", PendingDeprecationWarning)],  # the SDK only
)
def test_a_deprecation_warning_from_our_code_is_an_error(
    module: str, category: type[Warning]
) -> None:
    with pytest.raises(category):
        warnings.warn_explicit("deprecated", category, f"{module}.py", 1, module=module)


def test_a_deprecation_warning_from_someone_else_stays_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="deprecated"):
        warnings.warn_explicit("deprecated", DeprecationWarning, "aiohttp.py", 1,
                               module="aiohttp.client")
