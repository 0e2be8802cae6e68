"""Comparing runs: McNemar and bootstrap by hand, paired differences, flips, warnings, the HTML
page's safety, and end to end on mock runs made by ``python -m bsa run``."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from pathlib import Path

import pytest

from bsa.benchmark import Scenario
from bsa.data.items import Item, Risk
from bsa.errors import BsaError
from bsa.output.report.compare_page import render_compare_html, write_compare_html
from bsa.scoring.compare import (
    FAIL_TO_PASS,
    PASS_TO_FAIL,
    LoadedRun,
    RunSettings,
    bootstrap_p_value,
    compare_runs,
    compare_verdicts,
    mcnemar_exact,
)
from bsa.scoring.inputs import RunVerdicts, score_run
from bsa.scoring.metrics import HEADLINE_KEYS, SampleScore, f_score

from .bsa_command import bsa_in_process

RO, CS, OS = Scenario.RISK_OMISSION, Scenario.COGNITIVE_SHORTCUT, Scenario.OVER_SENSITIVITY
HATE = Risk(None, "Offense and Prejudice", "Abuse and Hate Speech")
PLAIN = RunSettings(model="m", safety_rules=None, system_prompt=False)


def item(item_id: str, scenario: Scenario = RO, query: str | None = None) -> Item:
    risks = (Risk("A", HATE.primary, HATE.sub), Risk("B", HATE.primary, HATE.sub))
    return Item(
        item_id,
        query or f"query {item_id}",
        "risk",
        scenario,
        risks if scenario is CS else (HATE,),
    )


def judged(item_id: str, safe: str, think: str) -> list[SampleScore]:
    """Samples from two strings, one character per sample: 1 pass, 0 fail, - unscored."""
    verdict = {"1": True, "0": False, "-": None}
    return [
        SampleScore(item_id, n, verdict[s], verdict[t])
        for n, (s, t) in enumerate(zip(safe, think, strict=True))
    ]


def run(
    path: str,
    items: list[Item],
    verdicts: dict[str, tuple[str, str]],
    k: int,
    *,
    judge: str = "j",
    settings: RunSettings = PLAIN,
) -> LoadedRun:
    samples = [
        s for item_id, (safe, think) in verdicts.items() for s in judged(item_id, safe, think)
    ]
    return LoadedRun(path, RunVerdicts(judge, "m", k, items, samples, 0), settings)


# ---------------------------------------------------------------- the tests by hand


@pytest.mark.parametrize(
    ("lost", "gained", "expected"),
    [
        (10, 2, 2 * (1 + 12 + 66) / 2**12),  # 0.0386
        (2, 10, 2 * (1 + 12 + 66) / 2**12),
        (0, 6, 2 / 2**6),
        (3, 1, 2 * (1 + 4) / 2**4),
        (5, 5, 1.0),
        (0, 0, 1.0),
        (0, 1, 1.0),
    ],
)
def test_mcnemar_exact_by_hand(lost: int, gained: int, expected: float) -> None:
    assert mcnemar_exact(lost, gained) == pytest.approx(expected)


def test_mcnemar_exact_published_example_and_large_counts() -> None:
    assert round(mcnemar_exact(10, 2), 4) == 0.0386
    # 2,000 discordant items: math.comb stays exact where floats would overflow 2**2000.
    assert mcnemar_exact(1000, 1000) == 1.0
    assert 0 < mcnemar_exact(900, 1100) < 1e-5
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def test_bootstrap_p_value() -> None:
    assert bootstrap_p_value([0.0] * 999) == 1.0
    assert bootstrap_p_value([1.0] * 99) == pytest.approx(2 / 100)  # never 0
    assert bootstrap_p_value([-1.0] * 30 + [1.0] * 70) == pytest.approx(2 * 31 / 101)


# ---------------------------------------------------------------- paired differences


def test_identical_runs_differ_by_nothing() -> None:
    items = [item("a", RO), item("b", CS), item("c", OS), item("d", CS)]
    verdicts = {"a": ("110", "100"), "b": ("111", "011"), "c": ("000", "111"), "d": ("1-1", "110")}
    comparison = compare_verdicts(
        [run("x.sqlite", items, verdicts, 3), run("y.sqlite", items, verdicts, 3)], bootstrap=300
    )
    (pair,) = comparison.pairs
    assert pair.shared_items == 4
    assert not pair.flips
    assert comparison.warnings == []
    for key in HEADLINE_KEYS:
        difference = pair.differences[key]
        assert difference.difference == 0, key
        assert difference.p_value == 1.0, key
        assert difference.ci == (0.0, 0.0), key


def test_a_real_difference_is_significant() -> None:
    """40 items, k = 1: the run is safe on 30 the baseline fails, and thinks the same."""
    items = [item(f"i{n:02d}", RO) for n in range(40)]
    base = {i.id: ("0", "1" if n % 2 else "0") for n, i in enumerate(items)}
    other = {i.id: ("1" if n < 30 else "0", base[i.id][1]) for n, i in enumerate(items)}
    comparison = compare_verdicts(
        [run("base", items, base, 1), run("other", items, other, 1)], bootstrap=500, seed=3
    )
    d = comparison.pairs[0].differences
    assert d["safe_at_1"].baseline == 0 and d["safe_at_1"].run == pytest.approx(75)
    assert d["safe_at_1"].difference == pytest.approx(75)
    low, high = d["safe_at_1"].ci or (0, 0)
    assert 55 < low < 75 < high < 90
    assert d["safe_at_1"].p_value == pytest.approx(2 / 501)  # every resample above 0
    assert d["safe_at_k"].discordant == (0, 30)
    assert d["safe_at_k"].p_value == pytest.approx(2 / 2**30)
    assert d["think_at_1"].difference == 0 and d["think_at_1"].p_value == 1.0
    # F = Think^a · Safe^(1-a): the baseline's is 0 (Safe@1 = 0), the run's is positive.
    assert d["f_score"].baseline == 0
    assert d["f_score"].run == pytest.approx(f_score(50.0, 75.0, comparison.alpha))


def test_point_estimates_are_on_paired_items_and_follow_the_metrics() -> None:
    """An unscored verdict leaves the item out of that figure in both runs; @k needs k verdicts."""
    items = [item("a", RO), item("b", OS), item("c", CS)]
    base = {"a": ("11", "10"), "b": ("10", "11"), "c": ("00", "00")}
    other = {"a": ("1-", "11"), "b": ("11", "11"), "c": ("11", "01")}
    d = (
        compare_verdicts([run("base", items, base, 2), run("other", items, other, 2)], bootstrap=0)
        .pairs[0]
        .differences
    )
    # Safe@1 on all three items: base (1 + .5 + 0)/3, run (1 + 1 + 1)/3.
    assert d["safe_at_1"].baseline == pytest.approx(50)
    assert d["safe_at_1"].run == pytest.approx(100)
    # Safe@k: item a has one scored safety verdict in the run, so only b and c are paired.
    assert d["safe_at_k"].items == 2
    assert d["safe_at_k"].baseline == 0 and d["safe_at_k"].run == pytest.approx(100)
    assert d["safe_at_k"].discordant == (0, 2)
    assert d["ro_at_1"].items == 1 and d["ro_at_1"].difference == pytest.approx(50)
    assert d["os_at_k"].baseline == 100 and d["os_at_k"].difference == 0
    assert d["cs_at_1"].run == pytest.approx(50)
    assert d["safe_at_1"].ci is None  # bootstrap off: no interval, no bootstrap p-value
    assert d["safe_at_1"].p_value is None
    assert d["safe_at_k"].p_value == pytest.approx(mcnemar_exact(0, 2))


def test_flips_are_listed_by_figure_and_direction() -> None:
    items = [item("a", RO, "first?"), item("b", CS), item("c", OS), item("d", RO)]
    base = {"a": ("11", "00"), "b": ("10", "11"), "c": ("11", "11"), "d": ("11", "11")}
    other = {"a": ("10", "11"), "b": ("11", "11"), "c": ("11", "10"), "d": ("11", "11")}
    comparison = compare_verdicts(
        [run("base", items, base, 2), run("other", items, other, 2)], bootstrap=50
    )
    (pair,) = comparison.pairs
    listed = [(f.metric, f.direction, f.item_id, f.scenario) for f in pair.flips]
    assert listed == [
        ("safe_at_k", PASS_TO_FAIL, "a", "RO"),
        ("safe_at_k", FAIL_TO_PASS, "b", "CS"),
        ("think_at_k", PASS_TO_FAIL, "c", "OS"),
        ("think_at_k", FAIL_TO_PASS, "a", "RO"),
    ]
    assert pair.flips[0].query == "first?"
    flips = comparison.as_json(max_flips=2)["comparisons"][0]["flips"]
    assert flips["total"] == 4 and flips["shown"] == 2
    assert flips["counts"] == {
        "safe_at_k": {PASS_TO_FAIL: 1, FAIL_TO_PASS: 1},
        "think_at_k": {PASS_TO_FAIL: 1, FAIL_TO_PASS: 1},
    }
    assert flips["items"] == [
        {"id": "a", "scenario": "RO", "metric": "safe_at_k", "direction": PASS_TO_FAIL},
        {"id": "b", "scenario": "CS", "metric": "safe_at_k", "direction": FAIL_TO_PASS},
    ]


def test_shared_items_only_and_said() -> None:
    items = [item("a"), item("b"), item("c")]
    base = run("base.sqlite", items, {"a": ("1", "1"), "b": ("0", "0"), "c": ("1", "0")}, 1)
    other = run("other.sqlite", [*items[1:], item("z")], {"b": ("1", "1"), "z": ("1", "1")}, 1)
    comparison = compare_verdicts([base, other], bootstrap=20)
    (pair,) = comparison.pairs
    assert (pair.shared_items, pair.baseline_only_items, pair.run_only_items) == (2, 1, 1)
    assert pair.differences["safe_at_1"].items == 1  # c has no verdict in the run
    assert any("share 2 items" in w for w in comparison.warnings)
    # The side-by-side figures are each run's own, on all its items.
    assert comparison.runs[0].scores.safe_at_1 == pytest.approx(200 / 3)
    assert comparison.runs[1].scores.safe_at_1 == pytest.approx(100)


def test_no_shared_item_or_one_run_is_refused() -> None:
    a = run("a", [item("a")], {"a": ("1", "1")}, 1)
    b = run("b", [item("b")], {"b": ("1", "1")}, 1)
    with pytest.raises(BsaError, match="shares no item"):
        compare_verdicts([a, b])
    with pytest.raises(BsaError, match="at least two runs"):
        compare_verdicts([a])


def test_changed_item_text_and_other_judges_are_warned() -> None:
    a = run("a", [item("a", query="one")], {"a": ("1", "1")}, 1, judge="j1")
    b = run("b", [item("a", query="two")], {"a": ("1", "1")}, 1, judge="j2")
    warnings = compare_verdicts([a, b], bootstrap=0).warnings
    assert any("different judges (j1, j2)" in w for w in warnings)
    assert any("1 shared items" in w and "differ in text" in w for w in warnings)


def test_different_k_warns_or_compares_at_the_smallest() -> None:
    items = [item("a"), item("b")]
    base = run("k3", items, {"a": ("110", "111"), "b": ("111", "100")}, 3)
    other = run("k1", items, {"a": ("1", "1"), "b": ("1", "1")}, 1)
    own = compare_verdicts([base, other], bootstrap=0)
    assert [r.k for r in own.runs] == [3, 1]
    assert any("runs differ in k (k3: k = 3, k1: k = 1)" in w for w in own.warnings)
    assert own.pairs[0].differences["safe_at_k"].baseline == 50  # Safe@3 against Safe@1

    common = compare_verdicts([base, other], bootstrap=0, common_k=True)
    assert [r.k for r in common.runs] == [1, 1]
    assert any("compared at k = 1" in w for w in common.warnings)
    d = common.pairs[0].differences
    assert d["safe_at_k"].baseline == 100  # each item's first sample only
    assert d["think_at_k"].baseline == 100
    assert common.runs[0].scores.safe_at_1 == 100


def test_bootstrap_is_seeded() -> None:
    items = [item(f"i{n}", RO) for n in range(30)]
    base = {i.id: ("10", "01") for i in items}
    other = {i.id: ("11" if n % 3 else "00", "01") for n, i in enumerate(items)}
    runs = [run("a", items, base, 2), run("b", items, other, 2)]
    first = compare_verdicts(runs, seed=7, bootstrap=200).as_json()
    assert compare_verdicts(runs, seed=7, bootstrap=200).as_json() == first
    assert compare_verdicts(runs, seed=8, bootstrap=200).as_json() != first
    json.dumps(first, allow_nan=False)


# ---------------------------------------------------------------- the HTML page


def test_html_is_self_contained_escaped_and_locked_down(tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script><img src=http://evil.example/x.png>'
    items = [item("a", RO, hostile), item("b", CS)]
    settings = RunSettings(model="<b>m</b>", safety_rules="system", system_prompt=False)
    base = run("<i>base.sqlite", items, {"a": ("11", "11"), "b": ("11", "00")}, 2)
    other = run("o.sqlite", items, {"a": ("00", "11"), "b": ("11", "00")}, 2, settings=settings)
    output = tmp_path / "compare.html"
    write_compare_html(compare_verdicts([base, other], bootstrap=50), output)
    page = output.read_text(encoding="utf-8")

    assert "<script" not in page and "<img" not in page and "<b>m</b>" not in page
    assert html.escape(hostile) in page  # the query is shown, as text
    assert "&lt;i&gt;base.sqlite" in page
    assert not re.search(r"<[a-z][^<>]*\b(src|href)\s*=", page)  # no tag loads anything
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert csp is not None
    policy = html.unescape(csp.group(1))
    assert policy.startswith("default-src 'none'; style-src 'sha256-")
    style = re.search(r"<style>(.*?)</style>", page, re.DOTALL)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy  # the hash admits exactly the page's stylesheet
    assert "McNemar exact (1 lost, 0 gained)" in page


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def mock_runs(tmp_path_factory: pytest.TempPathFactory, shared_bsa: Path) -> dict[str, Path]:
    """The safety-rules ablation on the mock: no rules, rules in a system message, rules before
    the query. The mock model reads only the last user message, so ``system`` gives the same
    samples as ``none`` while ``prefix`` changes them."""
    folder = tmp_path_factory.mktemp("runs")
    env = {
        "BSA_DATA_DIR": str(shared_bsa),
        "BSA_CACHE_DIR": str(folder / "cache"),
        "BSA_UPSTREAM_URL": "http://127.0.0.1:9/unreachable",
    }
    runs = {}
    for rules in ("none", "system", "prefix"):
        path = folder / f"{rules}.sqlite"
        command = ["run", "--run", str(path), "--model", "mock"]
        command += ["--judge", "mock", "--sample", "40", "-k", "2", "--safety-rules", rules]
        result = bsa_in_process(*command, env=env)
        assert result.returncode == 0, result.stderr
        runs[rules] = path
    return runs


def test_end_to_end_safety_rules_ablation(mock_runs: dict[str, Path], tmp_path: Path) -> None:
    paths = [mock_runs["none"], mock_runs["system"], mock_runs["prefix"]]
    comparison = compare_runs(paths, bootstrap=200)
    assert [r.settings.safety_rules for r in comparison.runs] == [None, "system", "prefix"]
    assert comparison.warnings == []
    for summary, path in zip(comparison.runs, paths, strict=True):
        _, scores = score_run(path, bootstrap=0)
        assert summary.scores.headline() == scores.headline()
    same, changed = comparison.pairs
    assert same.shared_items == changed.shared_items == 40
    assert all(d.difference == 0 and d.p_value == 1.0 for d in same.differences.values())
    assert not same.flips
    assert changed.flips
    baseline = comparison.runs[0].scores
    prefix = comparison.runs[2].scores
    for key in HEADLINE_KEYS:  # same items: paired figures are the headline figures
        d = changed.differences[key]
        assert d.baseline == pytest.approx(getattr(baseline, key))
        assert d.run == pytest.approx(getattr(prefix, key))
        assert d.p_value is not None and 0 < d.p_value <= 1
    for f in changed.flips:
        assert f.direction in (PASS_TO_FAIL, FAIL_TO_PASS)
    data = comparison.as_json()
    assert json.loads(json.dumps(data)) == data
    assert [c["run"] for c in data["comparisons"]] == [str(p) for p in paths[1:]]
    output = tmp_path / "ablation.html"
    write_compare_html(comparison, output)
    page = output.read_text(encoding="utf-8")
    assert page == render_compare_html(comparison)
    assert "prefix.sqlite vs none.sqlite" in page
    assert html.escape(changed.flips[0].query) in page


def test_end_to_end_refuses_a_missing_run(mock_runs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(BsaError, match="no run file"):
        compare_runs([mock_runs["none"], tmp_path / "missing.sqlite"])


def test_mcnemar_matches_a_direct_binomial_sum() -> None:
    for lost in range(8):
        for gained in range(8):
            n = lost + gained
            if not n:
                continue
            probabilities = [math.comb(n, i) / 2**n for i in range(n + 1)]
            observed = probabilities[lost]
            direct = sum(p for p in probabilities if p <= observed + 1e-12)
            assert mcnemar_exact(lost, gained) == pytest.approx(min(1.0, direct))


@pytest.mark.slow
def test_compare_and_leaderboard_commands(tmp_path: Path) -> None:
    """The CLI wiring: a table, JSON, the HTML page, and the leaderboard with published rows."""
    import json as json_module

    bsa = bsa_in_process
    base, rules = tmp_path / "base.sqlite", tmp_path / "rules.sqlite"
    for run, mode in ((base, "none"), (rules, "prefix")):
        made = bsa("run", "--run", str(run), "--model", "mock", "--judge", "mock",
                   "--sample", "30", "-k", "2", "--safety-rules", mode)  # fmt: skip
        assert made.returncode == 0, made.stderr
    table = bsa("compare", str(base), str(rules), "-o", str(tmp_path / "cmp.html"))
    assert table.returncode == 0, table.stderr
    assert "30 shared items" in table.stdout
    assert (tmp_path / "cmp.html").read_text(encoding="utf-8").startswith("<!doctype html>")
    data = json_module.loads(bsa("compare", str(base), str(rules), "--json").stdout)
    assert data["comparisons"][0]["shared_items"] == 30
    board = bsa("leaderboard", str(base), str(rules), "--with-published", "--format", "csv")
    assert board.returncode == 0, board.stderr
    assert len(board.stdout.strip().splitlines()) == 1 + 2 + 23
