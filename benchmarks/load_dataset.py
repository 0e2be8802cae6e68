"""How close dataset loading comes to the cost of just reading the CSV.

Loading validates every row (labels, categories, ids, both parts of Cognitive Shortcut items) and
hashes the content. The floor is a bare ``csv.DictReader`` pass over the same file: no validation can
be cheaper than reading. Run: ``python benchmarks/load_dataset.py [PATH] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bsa.data.dataset import load_dataset

DEFAULT = Path(os.environ.get("BSA_DATA_DIR") or Path(__file__).parents[2] / "shared" / "bsa")


def bare_read(path: Path) -> int:
    with path.open(encoding="utf-8", newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def best_of(repeat: int, work: Callable[[], object]) -> tuple[float, float]:
    """(best, median) wall seconds of ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT / "dataset.csv")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rows = bare_read(args.path)
    floor, floor_median = best_of(args.repeat, lambda: bare_read(args.path))
    full, full_median = best_of(args.repeat, lambda: load_dataset(args.path))
    print(f"file: {args.path} ({args.path.stat().st_size / 1e6:.2f} MB, {rows} rows)")
    print(f"bare csv read (floor): best {floor * 1e3:.1f} ms, median {floor_median * 1e3:.1f} ms")
    print(f"load_dataset:          best {full * 1e3:.1f} ms, median {full_median * 1e3:.1f} ms")
    print(f"ratio to floor: {full / floor:.2f}x; per row {full / rows * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
