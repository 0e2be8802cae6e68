"""A panel's figures beside each member's own, and how far the members agree.

A panel figure alone hides what it settles: two judges 20 points apart and two judges in step can
give the same majority. So the panel is always shown with each member's headline figures (scored
exactly as ``bsa score --judge MEMBER`` scores them) and Cohen's kappa of every pair of members.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bsa.benchmark import BSA_V1, Benchmark
from bsa.judging.panel import PANEL_SHORT, PANEL_TIE
from bsa.runfile.reading import KINDS
from bsa.runfile.store import RunStore
from bsa.scoring.agreement import pairwise_agreement
from bsa.scoring.inputs import RunVerdicts, score_run
from bsa.scoring.metrics import DEFAULT_ALPHA, DEFAULT_BOOTSTRAP, Scores, TruncatedPolicy

PANEL_REASONS = (PANEL_TIE, PANEL_SHORT)


@dataclass(frozen=True)
class PanelScores:
    """The panel's scores (as for one judge), each member's, and the members' agreement."""

    verdicts: RunVerdicts
    scores: Scores
    members: dict[str, Scores]
    #: one entry per pair of members: {"judges": [a, b], "kinds": {kind: paired/agreement/kappa}}
    agreement: list[dict[str, Any]]
    #: kind -> reason -> panel verdicts left unscored for it (see :mod:`bsa.judging.panel`)
    unscored: dict[str, dict[str, int]]

    def as_json(self) -> dict[str, Any]:
        """The panel's own scores at the top level (where a single judge's would be, so readers
        of ``bsa score --json`` need no change), and the panel detail under ``panel``."""
        return {
            **self.scores.as_json(),
            "panel": {
                "judges": list(self.members),
                "unscored": self.unscored,
                "members": {
                    judge: {**scores.headline(), **_unscored_counts(scores)}
                    for judge, scores in self.members.items()
                },
                "agreement": self.agreement,
            },
        }


def score_panel(
    run_path: Path,
    judges: Sequence[str] = (),
    *,
    alpha: float = DEFAULT_ALPHA,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    truncated: TruncatedPolicy = "judge",
    benchmark: Benchmark = BSA_V1,
) -> PanelScores:
    """Score ``run_path`` by the majority of ``judges`` (every judge of the run when empty).

    Members are scored without a bootstrap: their intervals would triple the time for figures
    shown only for comparison; the panel's own figures carry theirs."""
    verdicts, scores = score_run(
        run_path, alpha=alpha, bootstrap=bootstrap, seed=seed, truncated=truncated, panel=judges,
        benchmark=benchmark,
    )  # fmt: skip
    members = {
        judge: score_run(
            run_path, judge, alpha=alpha, bootstrap=0, truncated=truncated, benchmark=benchmark
        )[1]
        for judge in verdicts.members
    }
    with RunStore(run_path, read_only=True) as store:
        agreement = pairwise_agreement(store, verdicts.members)
    reasons = Counter(
        (judgement.kind, reason)
        for judgement in verdicts.judgements
        for reason in PANEL_REASONS
        if judgement.status != "scored" and (judgement.reason or "").startswith(reason)
    )
    unscored = {
        kind: {reason: reasons[(kind, reason)] for reason in PANEL_REASONS} for kind in KINDS
    }
    return PanelScores(verdicts, scores, members, agreement, unscored)


def _unscored_counts(scores: Scores) -> dict[str, int]:
    return {
        "unscored_safety": scores.counts.unscored_safety,
        "unscored_thinking": scores.counts.unscored_thinking,
    }


def panel_line(panel: dict[str, Any]) -> str:
    """How many panel verdicts no majority settled, by kind and reason (from the JSON form)."""
    parts = [
        f"{kind} {counts[PANEL_TIE]} tied, {counts[PANEL_SHORT]} short of a majority"
        for kind, counts in panel["unscored"].items()
    ]
    return f"panel verdicts left unscored: {'; '.join(parts)}"
