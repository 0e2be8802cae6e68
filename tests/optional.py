"""Optional packages (SDKs, torch, inspect_ai, ...) imported when a test runs, not when it is
collected.

Every pytest-xdist worker imports every test module, so a module-level ``import torch`` or
``pytest.importorskip("anthropic")`` costs each worker seconds before the first test starts (the
optional SDKs took ~17 s of an 18 s collection). A test module that needs such a package declares
``needs = requires("torch", "transformers")``: its tests still skip when one is missing, as a
module-level ``importorskip`` made them, but the import happens once, at the first test that runs.
``lazy("torch")`` stands for the module in test code until then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def requires(*names: str) -> Callable[[], None]:
    """A module-scoped autouse fixture that skips the module's tests unless every one of ``names``
    imports. Module scope: it runs before the module's other module-scoped fixtures, which may
    build things with the package."""

    @pytest.fixture(scope="module", autouse=True)
    def optional_packages() -> None:
        for name in names:
            pytest.importorskip(name)

    return optional_packages


class lazy:
    """A module imported at its first attribute access; a missing one skips the test there."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(pytest.importorskip(self._name), attribute)
