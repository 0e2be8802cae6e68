"""Optional packages (SDKs, torch, inspect_ai, ...) imported when a test runs, not when it is
collected.

Every pytest-xdist worker imports every test module, so a module-level ``import torch`` or
``pytest.importorskip("anthropic")`` costs each worker seconds before the first test starts (the
optional SDKs took ~17 s of an 18 s collection). A test module that needs such a package declares
``needs = requires("torch", "transformers")``: its tests still skip when one is missing, as a
module-level ``importorskip`` made them, but the import happens once, at the first test that runs.
``lazy("torch")`` stands for the module in test code until then, and ``on_call`` for a class of
bsa whose module imports an SDK at its top.
"""

from __future__ import annotations

import importlib
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
        if attribute.startswith("_"):  # pytest's look for fixtures and markers, at collection
            raise AttributeError(attribute)
        return getattr(pytest.importorskip(self._name), attribute)


def on_call(module: str, name: str) -> Callable[..., Any]:
    """``module.name`` (a provider class of bsa, say), imported at its first call. A plain import:
    bsa's own modules must import (a failure there is an error, never a skip)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call
