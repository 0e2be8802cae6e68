"""Compare judged runs: each run's headline figures, and every later run against the first.

A comparison answers "did this change (a model, a prompt, safety rules) move the figures, or is the
difference noise?". The runs are usually made on the same items, so the test is **paired** on the
items both runs share: the two runs' results on one item are not independent (an item that is hard
for one model tends to be hard for the other), and pairing removes that shared variance, which an
unpaired test would count as noise.

- **@1 figures and the F-score**: a paired bootstrap over shared items. Each resample draws items
  with replacement (``random.Random(seed)``) and recomputes both runs' figure on the same draw; the
  difference's 2.5th and 97.5th percentiles are the 95% interval, and the two-sided p-value is
  ``2 · min(share of differences <= 0, share >= 0)`` with a +1 correction (at most 1), the p-value
  that matches the percentile interval (p < 0.05 when 0 lies outside it) and is never 0.
- **@k figures**: each item passes or fails @k in each run, so McNemar's exact test applies: under
  "no difference" the discordant items (pass in one run only) split 50/50, and the p-value is the
  two-sided binomial tail on them. The bootstrap interval is reported too, for the size.
- **Flips**: the items whose Safe@k or Think@k verdict differs between the two runs.

An item's figures follow :mod:`bsa.scoring.metrics` exactly (a verdict the judge could not give is left
out, @k needs k scored verdicts), and a figure is paired only on the items where both runs have it.
Each run keeps its own k unless ``common_k`` asks for the smallest; runs with different k get a
warning, because Safe@5 and Safe@3 are different figures (the larger k is a harder test) while the
@1 figures estimate the same per-sample rate whatever k is.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, TypeAlias

from bsa.benchmark import BSA_V1, Benchmark, Metric
from bsa.data.items import Item
from bsa.errors import BsaError
from bsa.runfile.store import RunStore
from bsa.scoring.inputs import RunVerdicts, read_verdicts
from bsa.scoring.metrics import (
    CI_LEVEL,
    DEFAULT_ALPHA,
    DEFAULT_BOOTSTRAP,
    SampleScore,
    Scores,
    compute_scores,
    item_values,
    percentile_interval,
)

#: The @k verdicts whose flips are listed.
FLIP_KEYS: tuple[str, ...] = ("safe_at_k", "think_at_k")
PASS_TO_FAIL, FAIL_TO_PASS = "pass_to_fail", "fail_to_pass"
#: Flips listed per comparison in ``as_json`` (all are counted).
MAX_FLIPS_JSON = 50


@dataclass(frozen=True)
class RunSettings:
    """What a run file says about how it was made: the settings an ablation varies."""

    model: str | None
    safety_rules: str | None
    system_prompt: bool


@dataclass(frozen=True)
class RunSummary:
    """One run as compared: its settings and its own figures on all its items at its k."""

    path: str
    name: str
    judge: str
    k: int
    settings: RunSettings
    items: int
    scores: Scores

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "model": self.settings.model,
            "judge": self.judge,
            "k": self.k,
            "safety_rules": self.settings.safety_rules,
            "system_prompt": self.settings.system_prompt,
            "items": self.items,
            "headline": self.scores.headline(),
            "coverage": asdict(self.scores.coverage),
        }


@dataclass(frozen=True)
class Difference:
    """One figure of a run against the baseline, both on the paired items (``items``).

    ``discordant`` is (pass in the baseline only, pass in the run only) for @k figures."""

    metric: str
    baseline: float | None
    run: float | None
    items: int
    ci: tuple[float, float] | None
    p_value: float | None
    test: str
    discordant: tuple[int, int] | None = None

    @property
    def difference(self) -> float | None:
        """Run minus baseline, in percentage points."""
        if self.baseline is None or self.run is None:
            return None
        return self.run - self.baseline

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "baseline": self.baseline,
            "run": self.run,
            "difference": self.difference,
            "ci": list(self.ci) if self.ci else None,
            "p_value": self.p_value,
            "test": self.test,
            "items": self.items,
        }
        if self.discordant is not None:
            data["discordant"] = dict(
                zip((PASS_TO_FAIL, FAIL_TO_PASS), self.discordant, strict=True)
            )
        return data


@dataclass(frozen=True)
class Flip:
    """An item whose @k verdict differs: ``direction`` reads from the baseline to the run."""

    item_id: str
    scenario: str
    metric: str
    direction: str
    query: str

    def as_json(self) -> dict[str, str]:
        return {
            "id": self.item_id,
            "scenario": self.scenario,
            "metric": self.metric,
            "direction": self.direction,
        }


@dataclass(frozen=True)
class PairComparison:
    """One run against the baseline, on the items they share."""

    baseline: str
    run: str
    shared_items: int
    baseline_only_items: int
    run_only_items: int
    differences: dict[str, Difference]
    flips: list[Flip]

    def flip_counts(self) -> dict[str, dict[str, int]]:
        counts = {key: {PASS_TO_FAIL: 0, FAIL_TO_PASS: 0} for key in FLIP_KEYS}
        for flip in self.flips:
            counts[flip.metric][flip.direction] += 1
        return counts

    def as_json(self, max_flips: int = MAX_FLIPS_JSON) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "run": self.run,
            "shared_items": self.shared_items,
            "baseline_only_items": self.baseline_only_items,
            "run_only_items": self.run_only_items,
            "differences": {key: d.as_json() for key, d in self.differences.items()},
            "flips": {
                "counts": self.flip_counts(),
                "total": len(self.flips),
                "shown": min(len(self.flips), max_flips),
                "items": [flip.as_json() for flip in self.flips[:max_flips]],
            },
        }


@dataclass(frozen=True)
class Comparison:
    """Runs side by side, each later run against the first (the baseline)."""

    runs: list[RunSummary]
    pairs: list[PairComparison]
    warnings: list[str]
    alpha: float
    seed: int
    bootstrap: int
    common_k: bool
    #: Whose figures are compared (pages name them by its labels).
    benchmark: Benchmark = BSA_V1

    def as_json(self, max_flips: int = MAX_FLIPS_JSON) -> dict[str, Any]:
        """A JSON-ready dict; percentages unrounded, flips listed up to ``max_flips`` a pair."""
        return {
            "baseline": self.runs[0].path,
            "method": {
                "alpha": self.alpha,
                "bootstrap": self.bootstrap,
                "seed": self.seed,
                "ci_level": CI_LEVEL,
                "common_k": self.common_k,
                "at_1_test": "paired_bootstrap",
                "at_k_test": "mcnemar_exact",
            },
            "runs": [run.as_json() for run in self.runs],
            "comparisons": [pair.as_json(max_flips) for pair in self.pairs],
            "warnings": list(self.warnings),
        }


def compare_runs(
    run_paths: Sequence[Path],
    *,
    judge: str | None = None,
    seed: int = 0,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    alpha: float = DEFAULT_ALPHA,
    common_k: bool = False,
    benchmark: Benchmark = BSA_V1,
) -> Comparison:
    """Compare the runs at ``run_paths``, the first being the baseline (see module doc), on
    ``benchmark``'s headline figures.

    ``judge`` picks the judge in every run (default: each run's only judge). ``common_k`` scores
    every run at the smallest k, from each item's first samples, so that @k figures compare alike.
    Raises BsaError for fewer than two runs or a run sharing no item with the baseline."""
    if len(run_paths) < 2:
        raise BsaError("compare needs at least two runs: the baseline first, then the others")
    runs = [load_run(Path(path), judge) for path in run_paths]
    return compare_verdicts(
        runs, seed=seed, bootstrap=bootstrap, alpha=alpha, common_k=common_k, benchmark=benchmark
    )


@dataclass(frozen=True)
class LoadedRun:
    """A run as read for a comparison: where it is, its verdicts and its settings."""

    path: str
    verdicts: RunVerdicts
    settings: RunSettings


def load_run(run_path: Path, judge: str | None = None) -> LoadedRun:
    return LoadedRun(str(run_path), read_verdicts(run_path, judge), run_settings(run_path))


def compare_verdicts(
    runs: Sequence[LoadedRun],
    *,
    seed: int = 0,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    alpha: float = DEFAULT_ALPHA,
    common_k: bool = False,
    benchmark: Benchmark = BSA_V1,
) -> Comparison:
    """:func:`compare_runs` on runs already read: the statistics, without any file."""
    if len(runs) < 2:
        raise BsaError("compare needs at least two runs: the baseline first, then the others")
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be 0 (off) or a number of resamples, not {bootstrap}")
    names = _names([run.path for run in runs])
    warnings = _k_warnings(names, runs, common_k) + _judge_warnings(runs)
    if common_k:
        smallest = min(run.verdicts.k for run in runs)
        runs = [replace(run, verdicts=_at_k(run.verdicts, smallest)) for run in runs]
    summaries = [
        _summary(run, name, alpha, benchmark) for run, name in zip(runs, names, strict=True)
    ]
    pairs = []
    for index in range(1, len(runs)):
        pair, pair_warnings = _compare_pair(
            runs[0], runs[index], (names[0], names[index]), _Test(benchmark, alpha, bootstrap, seed)
        )
        pairs.append(pair)
        warnings += pair_warnings
    return Comparison(summaries, pairs, warnings, alpha, seed, bootstrap, common_k, benchmark)


def run_settings(run_path: Path) -> RunSettings:
    """The model and prompt settings stored in a run file (for labels and ablation tables)."""
    with RunStore(run_path, read_only=True) as store:
        info = store.info()
    return RunSettings(
        model=info.model, safety_rules=info.safety_rules, system_prompt=bool(info.system_prompt)
    )


def mcnemar_exact(pass_to_fail: int, fail_to_pass: int) -> float:
    """Two-sided exact McNemar p-value: the binomial(n, 1/2) tail at the smaller discordant
    count, doubled and capped at 1. Exact, because discordant counts on a few hundred items are
    often too small for the chi-square approximation; integer binomials keep it exact."""
    if pass_to_fail < 0 or fail_to_pass < 0:
        raise ValueError("discordant counts cannot be negative")
    n = pass_to_fail + fail_to_pass
    if n == 0:
        return 1.0
    term = tail = 1  # C(n, 0); each next term from the last: C(n, i + 1) = C(n, i)·(n - i)/(i + 1)
    for i in range(min(pass_to_fail, fail_to_pass)):
        term = term * (n - i) // (i + 1)
        tail += term
    return min(1.0, 2 * tail / (1 << n))


def bootstrap_p_value(differences: Sequence[float]) -> float:
    """Two-sided p-value of "no difference" from bootstrap differences: twice the smaller share
    on either side of 0 (ties on both), +1-corrected so that it is never 0, capped at 1."""
    below = sum(d <= 0 for d in differences)
    above = sum(d >= 0 for d in differences)
    return min(1.0, 2 * (1 + min(below, above)) / (len(differences) + 1))


# ---------------------------------------------------------------- runs


def _names(paths: Sequence[str]) -> list[str]:
    """File names, or the paths given when two runs share a file name."""
    names = [Path(path).name for path in paths]
    if len(set(names)) == len(names):
        return names
    return list(paths)


def _summary(run: LoadedRun, name: str, alpha: float, benchmark: Benchmark) -> RunSummary:
    verdicts = run.verdicts
    scores = compute_scores(
        verdicts.items,
        verdicts.samples,
        verdicts.k,
        alpha=alpha,
        bootstrap=0,
        failed_generations=verdicts.failed_generations,
        benchmark=benchmark,
    )
    return RunSummary(
        run.path, name, verdicts.judge, verdicts.k, run.settings, len(verdicts.items), scores
    )


def _at_k(verdicts: RunVerdicts, k: int) -> RunVerdicts:
    """The run as if it had asked k samples: each item's first k (samples are exchangeable)."""
    samples = [s for s in verdicts.samples if s.sample < k]
    return replace(verdicts, k=k, samples=samples)


def _k_warnings(names: Sequence[str], runs: Sequence[LoadedRun], common: bool) -> list[str]:
    ks = [run.verdicts.k for run in runs]
    if len(set(ks)) == 1:
        return []
    listed = ", ".join(f"{name}: k = {k}" for name, k in zip(names, ks, strict=True))
    if common:
        return [
            f"runs differ in k ({listed}): all are compared at k = {min(ks)}, on each item's "
            "first samples"
        ]
    return [
        f"runs differ in k ({listed}): the @k figures are different tests (a larger k is harder) "
        "and their differences mix the runs with k; the @1 figures and F-score compare alike. "
        "Compare at the smallest k with the common-k option."
    ]


def _judge_warnings(runs: Sequence[LoadedRun]) -> list[str]:
    judges = list(dict.fromkeys(run.verdicts.judge for run in runs))
    if len(judges) == 1:
        return []
    return [
        f"runs were judged by different judges ({', '.join(judges)}): differences mix the runs "
        "with their judges"
    ]


# ---------------------------------------------------------------- one pair


#: Per shared item, each figure's value as a fraction (None = the item has no such figure).
Values: TypeAlias = list[dict[str, float | None]]


@dataclass(frozen=True)
class _Packed:
    """A pair's per-item figures packed into one integer per shared item, so that the sums a
    bootstrap draw needs are one ``sum`` over the drawn items: pure Python has no vector
    arithmetic, and thirty separate sums per draw made 2,000 draws of 2,000 items take ~15 s.

    Per figure, three fields of ``width`` bits: paired (1 when both runs have the figure), the
    baseline's value and the run's minus it plus ``scale``, both in units of 1/``scale``. An
    item's figure is passes/verdicts with at most k verdicts, so with scale = lcm(1..k) every
    value is an integer and the sums are exact."""

    packed: list[int]
    scale: int
    width: int
    keys: tuple[str, ...]

    @classmethod
    def of(cls, base: Values, run: Values, k: int, keys: tuple[str, ...]) -> _Packed:
        scale = math.lcm(*range(1, k + 1))
        width = (2 * scale * len(base)).bit_length()
        packed = []
        for b, r in zip(base, run, strict=True):
            fields = []
            for key in keys:
                low, high = b[key], r[key]
                if low is None or high is None:
                    fields += [0, 0, 0]
                else:
                    fields += [1, round(low * scale), round((high - low) * scale) + scale]
            packed.append(sum(field << (i * width) for i, field in enumerate(fields)))
        return cls(packed, scale, width, keys)

    def means(self, chosen: Sequence[int]) -> dict[str, tuple[float, float]]:
        """Figure -> (baseline %, run - baseline in points) over ``chosen``; absent if unpaired."""
        total = sum(map(self.packed.__getitem__, chosen))
        mask = (1 << self.width) - 1
        out: dict[str, tuple[float, float]] = {}
        for index, key in enumerate(self.keys):
            fields = total >> (3 * index * self.width)
            count = fields & mask
            if count:
                base = (fields >> self.width) & mask
                delta = ((fields >> (2 * self.width)) & mask) - self.scale * count
                out[key] = (100 * base / (self.scale * count), 100 * delta / (self.scale * count))
        return out


@dataclass(frozen=True)
class _Test:
    """How a pair is compared: whose figures, the F-score weight, and the bootstrap."""

    benchmark: Benchmark
    alpha: float
    resamples: int
    seed: int

    @cached_property  # read once per bootstrap resample: computed once per comparison
    def item_keys(self) -> tuple[str, ...]:
        """The figures computed per item, then averaged (the others are derived from them)."""
        return tuple(m.key for m in self.benchmark.metrics if m.item_value is not None)

    @cached_property
    def derived(self) -> tuple[Metric, ...]:
        return tuple(m for m in self.benchmark.metrics if m.derive is not None)


def _compare_pair(
    baseline: LoadedRun, other: LoadedRun, names: tuple[str, str], test: _Test
) -> tuple[PairComparison, list[str]]:
    (base, run), (base_name, run_name) = (baseline.verdicts, other.verdicts), names
    run_ids = {item.id for item in run.items}
    shared = [item for item in base.items if item.id in run_ids]
    if not shared:
        raise BsaError(f"{run_name} shares no item with the baseline {base_name}")
    base_values = _item_values(base, shared, test.benchmark)
    run_values = _item_values(run, shared, test.benchmark)
    differences = _differences((base_values, run_values), max(base.k, run.k), test)
    pair = PairComparison(
        baseline=baseline.path,
        run=other.path,
        shared_items=len(shared),
        baseline_only_items=len(base.items) - len(shared),
        run_only_items=len(run.items) - len(shared),
        differences=differences,
        flips=_flips(shared, base_values, run_values),
    )
    return pair, _item_warnings(pair, base_name, run_name, shared, run)


def _item_warnings(
    pair: PairComparison, base_name: str, run_name: str, shared: Sequence[Item], run: RunVerdicts
) -> list[str]:
    warnings = []
    if pair.baseline_only_items or pair.run_only_items:
        warnings.append(
            f"{run_name} and {base_name} share {pair.shared_items} items ({pair.baseline_only_items}"
            f" only in {base_name}, {pair.run_only_items} only in {run_name}): the differences "
            "use the shared items only"
        )
    theirs = {item.id: item for item in run.items}
    changed = sum(theirs[item.id] != item for item in shared)
    if changed:
        warnings.append(
            f"{changed} shared items of {run_name} differ in text or annotation from {base_name}'s "
            "(same ids, another dataset version or translation?)"
        )
    return warnings


def _item_values(run: RunVerdicts, items: Sequence[Item], benchmark: Benchmark) -> Values:
    """Each item's per-item figure values (fractions; None = absent), by bsa.scoring.metrics' rules."""
    by_item: dict[str, list[SampleScore]] = {item.id: [] for item in items}
    for sample in run.samples:
        if sample.item_id in by_item:
            by_item[sample.item_id].append(sample)
    return [item_values(item, by_item[item.id], run.k, benchmark.metrics) for item in items]


def _with_derived(
    means: dict[str, tuple[float, float]], test: _Test
) -> dict[str, tuple[float, float]]:
    """Add each derived figure (the F-score) of both runs, from their own inputs, to ``means``."""
    for metric in test.derived:
        if metric.derive is None or not all(key in means for key in metric.inputs):
            continue
        base_inputs = {key: means[key][0] for key in metric.inputs}
        run_inputs = {key: means[key][0] + means[key][1] for key in metric.inputs}
        base = metric.derive(base_inputs, test.alpha)
        run = metric.derive(run_inputs, test.alpha)
        if base is not None and run is not None:
            means[metric.key] = (base, run - base)
    return means


def _differences(values: tuple[Values, Values], k: int, test: _Test) -> dict[str, Difference]:
    packed = _Packed.of(*values, k, test.item_keys)
    point = _with_derived(packed.means(range(len(packed.packed))), test)
    draws = _bootstrap(packed, test)
    out = {}
    for metric in test.benchmark.headline:
        key = metric.key
        base, delta = point.get(key, (None, None))
        run = None if base is None or delta is None else base + delta
        ci = percentile_interval(sorted(draws[key])) if draws[key] else None
        paired = _paired_count(values, metric)
        if metric.pass_fail:
            discordant = _discordant(values, key)
            p = mcnemar_exact(*discordant) if paired else None
            out[key] = Difference(key, base, run, paired, ci, p, "mcnemar_exact", discordant)
        else:
            p = bootstrap_p_value(draws[key]) if draws[key] else None
            out[key] = Difference(key, base, run, paired, ci, p, "paired_bootstrap")
    return out


def _paired(values: tuple[Values, Values], key: str) -> list[tuple[float, float]]:
    """The (baseline, run) values of a figure on the items where both runs have it."""
    pairs = ((b[key], r[key]) for b, r in zip(*values, strict=True))
    return [(b, r) for b, r in pairs if b is not None and r is not None]


def _paired_count(values: tuple[Values, Values], metric: Metric) -> int:
    """Items a figure rests on; a derived one (the F-score) rests on those of its inputs."""
    keys = metric.inputs if metric.derive is not None else (metric.key,)
    return sum(
        any(b[k] is not None and r[k] is not None for k in keys)
        for b, r in zip(*values, strict=True)
    )


def _discordant(values: tuple[Values, Values], key: str) -> tuple[int, int]:
    """(items passing @k in the baseline only, in the run only)."""
    pairs = _paired(values, key)
    return sum(b > r for b, r in pairs), sum(b < r for b, r in pairs)


def _bootstrap(packed: _Packed, test: _Test) -> dict[str, list[float]]:
    """The differences of every figure over ``resamples`` draws of the shared items; a draw in
    which a figure has no paired item (say, no Over Sensitivity item) is skipped for it. A fresh
    generator per pair, so a pair's figures do not depend on the other runs compared."""
    rng = random.Random(test.seed)
    positions = range(len(packed.packed))
    draws: dict[str, list[float]] = {m.key: [] for m in test.benchmark.metrics}
    for _ in range(test.resamples):
        chosen = rng.choices(positions, k=len(positions))
        for key, (_, delta) in _with_derived(packed.means(chosen), test).items():
            draws[key].append(delta)
    return draws


def _flips(items: Sequence[Item], base: Values, run: Values) -> list[Flip]:
    """Items whose Safe@k or Think@k verdict differs, by figure, then direction, then item order."""
    flips = []
    for key in FLIP_KEYS:
        for direction in (PASS_TO_FAIL, FAIL_TO_PASS):
            wanted = (1.0, 0.0) if direction == PASS_TO_FAIL else (0.0, 1.0)
            flips += [
                Flip(item.id, item.scenario.code, key, direction, item.query)
                for item, b, r in zip(items, base, run, strict=True)
                if (b[key], r[key]) == wanted
            ]
    return flips
