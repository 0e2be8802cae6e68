"""A run's scores as one judge gave them or as a panel's majority: the one place that decides
which, shared by ``bsa score``, ``bsa run`` and the library pipeline.

Reading only: nothing here imports generation, judging or a provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bsa.benchmark import BSA_V1, Benchmark
from bsa.errors import BsaError
from bsa.scoring.inputs import RunVerdicts, score_run
from bsa.scoring.metrics import DEFAULT_ALPHA, DEFAULT_BOOTSTRAP, Scores, TruncatedPolicy
from bsa.scoring.panel_scores import PanelScores, score_panel


@dataclass(frozen=True)
class ScorePlan:
    """How the verdicts become figures (see :func:`bsa.scoring.inputs.score_run`)."""

    alpha: float = DEFAULT_ALPHA
    truncated: TruncatedPolicy = "judge"
    bootstrap: int = DEFAULT_BOOTSTRAP
    bootstrap_seed: int = 0
    benchmark: Benchmark = BSA_V1


def score_judges(
    run_path: Path, judges: Sequence[str], plan: ScorePlan, *, panel: bool | None = None
) -> tuple[RunVerdicts, Scores, PanelScores | None]:
    """The run's scores as one judge gave them (the run's only judge when none is named), or as
    the majority of several: of ``judges`` when more than one is named, and with ``panel`` of
    the named ones or of all the run's judges."""
    if len(judges) > 1 and panel is False:
        raise BsaError("name one --judge, or pass --panel to score several judges by majority")
    if panel or len(judges) > 1:
        result = score_panel(
            run_path, judges, alpha=plan.alpha, bootstrap=plan.bootstrap,
            seed=plan.bootstrap_seed, truncated=plan.truncated, benchmark=plan.benchmark,
        )  # fmt: skip
        return result.verdicts, result.scores, result
    verdicts, scores = score_run(
        run_path, judges[0] if judges else None, alpha=plan.alpha, bootstrap=plan.bootstrap,
        seed=plan.bootstrap_seed, truncated=plan.truncated, benchmark=plan.benchmark,
    )  # fmt: skip
    return verdicts, scores, None
