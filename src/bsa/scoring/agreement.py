"""How far two judges agree on the same samples, per verdict kind.

LLM judges disagree; a figure that changes with the judge is a figure about the judge. Comparing
two judges' verdicts on identical samples (percent agreement and Cohen's kappa, which discounts the
agreement two judges would reach by chance given their label rates) says how much to trust either.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

from bsa.runfile.reading import KINDS, judge_labels
from bsa.runfile.store import RunStore
from bsa.scoring.metrics import cohen_kappa


def judge_agreement(run_path: Path, first: str, second: str) -> dict[str, Any]:
    """Pair the scored verdicts of two judges by (item, sample, kind) and compare their labels.

    Verdicts made without a call (blocked, no reasoning) are the same for every judge by
    construction and are left out, so they do not inflate agreement.
    """
    with RunStore(run_path, read_only=True) as store:
        labels = [_labels(store, judge_labels(store, judge)) for judge in (first, second)]
    return {"run": str(run_path), "judges": [first, second], "kinds": _compare(*labels)}


def pairwise_agreement(store: RunStore, judges: Sequence[str]) -> list[dict[str, Any]]:
    """:func:`judge_agreement`'s figures for every pair of ``judges`` (a panel's members), in
    the order the judges are given."""
    labels = {judge: _labels(store, judge) for judge in judges}
    return [
        {"judges": [a, b], "kinds": _compare(labels[a], labels[b])}
        for a, b in combinations(judges, 2)
    ]


_Labels = dict[str, dict[tuple[str, int], str]]


def _compare(first: _Labels, second: _Labels) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        keys = sorted(set(first[kind]) & set(second[kind]))
        a = [first[kind][key] for key in keys]
        b = [second[kind][key] for key in keys]
        same = sum(x == y for x, y in zip(a, b, strict=True))
        kinds[kind] = {
            "paired": len(keys),
            "agreement": 100 * same / len(keys) if keys else None,
            "kappa": cohen_kappa(a, b) if keys else None,
        }
    return kinds


def _labels(store: RunStore, judge: str) -> _Labels:
    by_kind: _Labels = {kind: {} for kind in KINDS}
    for judgement in store.judgements(judge):
        if judgement.status == "scored" and judgement.prompt_sha256 and judgement.verdict:
            by_kind[judgement.kind][(judgement.item_id, judgement.sample)] = judgement.verdict
    return by_kind
