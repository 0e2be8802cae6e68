"""Every ``--json`` output parses with a strict parser: a figure that does not exist is ``null``,
never ``NaN`` or ``Infinity`` (which Python writes by default and ``JSON.parse`` refuses)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bsa.cli import main
from bsa.data.dataset import load_dataset
from bsa.output.terminal import terminal_json


def strict(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def bsa_json(*args: str | Path) -> Any:
    """The JSON a command prints (``bsa run`` prints its stage summaries first)."""
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    text = result.stdout
    return strict(text[text.index("{") :] if args[0] == "run" else text)


@pytest.fixture
def risk_omission_csv(tmp_path: Path) -> Path:
    """Judged samples of Risk Omission items only: the other scenarios have no items at all."""
    items = [i for i in load_dataset().items if i.scenario.value == "Risk Omission"][:3]
    path = tmp_path / "judged.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model_name", "id", "dataset_name", "Safe_Ans_Check", "Thk_Acc_Judge"])
        writer.writerows(["m", item.id, item.scenario.value, "Safe", "True"] for item in items)
    return path


@pytest.mark.parametrize("reference", [False, True], ids=["items-present", "reference"])
def test_scores_of_a_scenario_without_items_are_null(
    risk_omission_csv: Path, reference: bool
) -> None:
    flags = ["--reference"] if reference else []
    figures = bsa_json("score", "--from-csv", risk_omission_csv, "-k", "1", *flags, "--json")["m"]
    assert figures["cs_at_1"] is None and figures["os_at_k"] is None
    assert figures["ro_at_1"] is not None


def test_every_command_with_json_output_is_strict(tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"
    other = tmp_path / "other.sqlite"
    for path in (run, other):
        bsa_json("run", "--run", path, "--model", "mock", "--judge", "mock", "--scenario", "RO",
                 "--limit", "4", "-k", "2", "--json")  # fmt: skip
    bsa_json("score", "--run", run, "--json")
    bsa_json("score", "--run", run, "--reference", "--json")
    bsa_json("status", "--run", run, "--json")
    bsa_json("data", "stats", "--scenario", "RO", "--json")
    bsa_json("compare", run, other, "--json")
    bsa_json("leaderboard", run, "--format", "json")
    panel = bsa_json("run", "--run", other, "--model", "mock", "--judge", "mock", "--judge",
                     "mock:second", "--scenario", "RO", "--limit", "4", "-k", "2", "--json")  # fmt: skip
    assert panel["cs_at_1"] is None and panel["panel"]["members"]["mock:second"]["os_at_k"] is None
    bsa_json("score", "--run", other, "--panel", "--json")


def test_non_finite_numbers_become_null_at_any_depth() -> None:
    value = {"a": float("nan"), "b": [1.5, float("inf"), {"c": -float("inf")}], "d": (2.0,)}
    assert strict(terminal_json(value)) == {"a": None, "b": [1.5, None, {"c": None}], "d": [2.0]}
