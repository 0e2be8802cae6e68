"""Collecting the tests imports no optional package: every xdist worker collects every test
module, so one module-level ``import torch`` costs each worker seconds before its first test.
tests/optional.py imports them at the first test that needs them instead."""

from __future__ import annotations

import pytest

from tests.conftest import COLLECTED_MODULES

#: Packages of the extras (and their heaviest dependencies), seconds each to import.
OPTIONAL = (
    "anthropic", "zhipuai", "google.genai", "inspect_ai", "torch", "transformers", "mlcroissant",
    "matplotlib", "fastapi", "uvicorn",
)  # fmt: skip


def test_collecting_the_tests_imports_no_optional_package(pytestconfig: pytest.Config) -> None:
    collected = pytestconfig.stash[COLLECTED_MODULES]
    assert [name for name in OPTIONAL if name in collected] == []
