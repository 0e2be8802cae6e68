"""The published BSA leaderboard: the 23 models of the paper's main table, as data.

Source: the leaderboard table of the project website, https://openstellarteam.github.io/BSA/
(``docs/index.html`` of https://github.com/OpenStellarTeam/BSA), by Zheng et al., "Beyond Safe
Answers: A Benchmark for Evaluating True Risk Awareness in Large Reasoning Models",
arXiv:2505.19690. Figures are percentages as printed there, on all 2,000 items with k = 5.

They are kept here, not fetched, so that ``bsa leaderboard --with-published`` works offline and a
change on the website cannot silently change what a report compares against; the tests check them
against the copy of the table in the shared benchmark assets (``leaderboard_published.csv``).

Read with care: the published F-score column is not one formula. Its rows agree with
Think@1 ** alpha · Safe@1 ** (1 - alpha) for alpha ≈ 0.61 in 20 rows and for the upstream script's
alpha = 0.7639 in 3 (GLM-Z1-AirX, Kimi-K1.5, Qwen3-235B-A22B), so F-scores recomputed from a run
with one alpha are not strictly comparable with the column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bsa.benchmark import BSA_V1

#: The figures the paper printed: BSA v1's metrics declared ``published``, in the table's order.
PUBLISHED_KEYS: tuple[str, ...] = tuple(m.key for m in BSA_V1.metrics if m.published)
#: Columns of the published table, in its order (the website's, with the access group as a column).
PUBLISHED_COLUMNS: tuple[str, ...] = ("model", "access", *PUBLISHED_KEYS)
#: How reports cite the figures.
SOURCE = (
    "Published leaderboard of Beyond Safe Answers (Zheng et al., arXiv:2505.19690; "
    "OpenStellarTeam/BSA project website), k = 5"
)
#: The published figures rest on the full benchmark, k samples per item.
PUBLISHED_ITEMS = 2000
PUBLISHED_K = 5


@dataclass(frozen=True)
class PublishedRow:
    """One model's published figures (percent) by metric key, each also an attribute
    (``row.safe_at_1``); ``access`` is ``closed`` or ``open`` (weights). A figure the paper did
    not print (a metric declared later) is absent: :meth:`figure` gives None, never a KeyError."""

    model: str
    access: str
    figures: Mapping[str, float]

    def figure(self, key: str) -> float | None:
        return self.figures.get(key)

    def as_dict(self) -> dict[str, str | float]:
        return {"model": self.model, "access": self.access, **self.figures}

    def __getattr__(self, name: str) -> float:
        try:
            return self.__dict__["figures"][name]  # type: ignore[no-any-return]
        except KeyError:
            raise AttributeError(name) from None


# The table as printed, one model a line in the website's column order (see PUBLISHED_COLUMNS).
_TABLE = """\
Doubao-1.5-thinking-pro,closed,92.97,86.50,37.24,18.55,53.21,60.60,19.00,17.67,4.25,68.60,47.00
Gemini-2.5-Flash,closed,95.38,90.75,40.46,19.7,56.53,60,19.5,22.7,6.67,69.47,45.83
Gemini-2.5-Pro,closed,94.51,88.2,38.02,18.15,54.23,68.6,26.5,19.55,5.67,64.77,40.33
Claude-3.7-Sonnet,closed,99.28,98.05,54.57,30.7,68.92,53.4,9.5,40.05,18.08,84,63
Claude-4-Sonnet,closed,98.98,96.75,48.89,25.55,64.37,58.3,14,36.35,16.58,70.83,47.33
GLM-Z1-AirX,closed,91.59,82.59,32.65,11.90,41.65,53.30,13.00,14.72,1.33,61.63,32.67
Kimi-K1.5,closed,78.68,64.70,28.82,9.75,36.53,52.00,8.00,12.77,1.33,53.20,27.17
QwQ-32B,open,93.54,85.10,33.38,11.40,49.89,49.80,7.50,17.12,2.58,60.43,30.33
Qwen3-235B-A22B,open,97.52,93.30,35.25,12.45,44.82,55.40,9.00,16.47,2.17,66.10,34.17
Qwen3-30B-A3B,open,98.27,95.15,30.84,11.40,48.46,52.00,10.00,11.38,0.83,62.70,33.00
Qwen3-32B,open,96.50,91.25,34.02,11.25,51.09,57.00,12.00,15.55,1.42,63.30,30.67
Qwen3-14B,open,98.19,94.30,31.84,11.65,49.40,57.60,13.00,12.67,1.17,61.60,32.17
Qwen3-8B,open,97.14,92.15,28.62,9.30,46.09,56.40,11.00,10.90,0.75,54.80,25.83
Qwen3-4B,open,95.63,88.85,25.57,8.25,42.77,53.10,10.00,7.82,0.33,51.90,23.50
Qwen3-1.7B,open,79.87,62.85,15.37,2.95,29.23,34.00,3.00,4.12,0.08,31.67,8.67
Qwen3-0.6B,open,41.09,18.05,5.88,0.25,12.55,25.10,2.00,2.07,0.00,7.10,0.17
Deepseek-R1,open,94.63,88.85,37.98,16.20,54.22,52.70,13.50,20.78,4.33,67.47,40.83
R1-Distill-Llama-70B,open,86.69,79.50,23.45,7.55,39.05,49.60,12.00,10.17,2.17,41.30,16.83
R1-Distill-Qwen-32B,open,80.64,71.70,20.91,5.60,35.40,46.00,10.50,9.97,1.67,34.43,11.83
R1-Distill-Qwen-14B,open,83.07,73.55,19.61,6.05,34.43,45.20,8.50,7.05,0.83,36.20,15.67
R1-Distill-Llama-8B,open,71.50,58.60,14.73,3.90,27.28,34.70,6.50,4.77,0.42,28.00,10.00
R1-Distill-Qwen-7B,open,66.64,52.05,8.72,1.20,19.27,26.20,1.00,2.70,0.17,14.93,3.33
R1-Distill-Qwen-1.5B,open,39.96,17.25,2.94,0.15,8.13,14.60,1.00,1.00,0.00,2.93,0.17
"""


def _parse(table: str) -> tuple[PublishedRow, ...]:
    rows = []
    for line in table.splitlines():
        model, access, *figures = line.split(",")
        values = (float(f) for f in figures)
        rows.append(PublishedRow(model, access, dict(zip(PUBLISHED_KEYS, values, strict=True))))
    return tuple(rows)


#: The 23 published rows, in the order of the table above (closed models first).
PUBLISHED: tuple[PublishedRow, ...] = _parse(_TABLE)
