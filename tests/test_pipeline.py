"""The library pipeline behind ``bsa run``: the documented Python example runs as written, a second
call resumes instead of asking again, and the seeds of sampling and of the bootstrap are apart."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bsa.cli import main
from bsa.runfile.store import RunStore

PYTHON_API = Path(__file__).resolve().parents[1] / "docs" / "reference" / "python-api.md"


def python_api_example() -> str:
    section = PYTHON_API.read_text(encoding="utf-8").split("## A whole run", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the Python API page's whole run has an example"
    return match.group(1)


def test_the_documented_python_example_runs_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(python_api_example(), str(PYTHON_API), "exec"), namespace)
    result = namespace["result"]
    assert result.generation.counters.done == 20 * 5  # type: ignore[attr-defined]
    judged = [r.counters.done + r.direct for r in result.judging]  # type: ignore[attr-defined]
    assert judged == [200, 200], "each judge: 2 verdicts of 100 samples, by a call or without"
    assert result.verdicts.judge == "panel(mock:mock, mock:b)"  # type: ignore[attr-defined]
    with RunStore(tmp_path / "r1.sqlite", read_only=True) as store:
        assert store.judges() == ["mock:mock", "mock:b"]
    again = namespace["bsa"].run(namespace["bsa"].RunPlan(  # type: ignore[attr-defined]
        namespace["generation"], namespace["judges"]
    ))  # fmt: skip
    assert again.generation.counters.done == 0, "a second run asks for nothing"
    assert [r.counters.done for r in again.judging] == [0, 0]
    assert again.scores.think_at_1 == result.scores.think_at_1  # type: ignore[attr-defined]


def test_the_bootstrap_seed_is_not_the_sample_seed(tmp_path: Path) -> None:
    run = tmp_path / "run.sqlite"

    def scores(*args: str) -> dict[str, object]:
        result = CliRunner().invoke(main, [*args, "--json"])
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.stdout[result.stdout.index("{") :]))

    made = scores("run", "--run", str(run), "--model", "mock", "--judge", "mock",
                  "--sample", "30", "--sample-seed", "4", "-k", "2", "--bootstrap-seed", "9")  # fmt: skip
    assert made["ci_method"] == {"resamples": 2000, "seed": 9, "level": 0.95}
    same = scores("score", "--run", str(run), "--bootstrap-seed", "9")
    assert same["ci"] == made["ci"], "bsa run and bsa score resample alike"
    other = scores("score", "--run", str(run), "--bootstrap-seed", "10", "--bootstrap", "500")
    assert other["ci_method"] == {"resamples": 500, "seed": 10, "level": 0.95}
    legacy = CliRunner().invoke(main, ["score", "--run", str(run), "--seed", "9", "--json"])
    assert json.loads(legacy.stdout)["ci"] == made["ci"]
    assert "its name is now --bootstrap-seed" in legacy.stderr
    with RunStore(run, read_only=True) as store:
        assert len(store.prompts()) == 30
