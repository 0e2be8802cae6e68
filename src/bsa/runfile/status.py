"""What a run file holds and what is left: the view behind ``bsa status``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bsa.output.terminal import safe_line
from bsa.runfile.batches import stored_batches
from bsa.runfile.store import RunStore
from bsa.scoring.identical_samples import (
    identical_fields,
    identical_line,
    identical_warning,
    read_identical_samples,
)


def run_status(run_path: Path) -> dict[str, Any]:
    """Counts by status, how many of the prompts' k samples are missing (never generated, or
    failed and due for a retry), and items whose samples came back byte-identical (a run need not
    be judged for its samples to be useless as k samples)."""
    with RunStore(run_path, read_only=True) as store:
        info = store.info()
        k = info.k
        prompts = len(store.prompts())
        counts = store.status_counts()
        done = sum(len(samples & set(range(k))) for samples in store.done_samples().values())
        identical = identical_fields(read_identical_samples(store, k))
        replicas = {"model": store.replica_counts(), "judges": store.judge_replica_counts()}
        batches = [batch.summary() for batch in stored_batches(store)]
    warning = identical_warning(identical)
    return {
        "run": str(run_path),
        "model": info.model,
        "prompts": prompts,
        "k": k,
        **counts,
        "missing": prompts * k - done,
        **identical,
        "replicas": replicas,
        "batches": batches,
        "warnings": [warning] if warning else [],
    }


def status_lines(status: dict[str, Any]) -> list[str]:
    """What ``bsa status`` prints after its counts line: the identical samples, the answers of
    each replica where the model or a judge had several, the provider batches (id, stage, state,
    counts) and warnings."""
    batches = [batch_line(batch) for batch in status["batches"]]
    replicas = replica_lines(status["replicas"])
    return [identical_line(status), *replicas, *batches, *status["warnings"]]


def replica_lines(replicas: dict[str, Any]) -> list[str]:
    """``replicas: URL 120, URL 118`` for the model, and the same per judge, where several
    endpoints answered."""
    owners = [("model", replicas["model"])]
    owners += [(f"judge {judge}", counts) for judge, counts in replicas["judges"].items()]
    return [
        f"{owner} replicas: {', '.join(f'{url} {count}' for url, count in counts.items())}"
        for owner, counts in owners
        if len(counts) > 1
    ]


def batch_line(batch: dict[str, Any]) -> str:
    """One batch: ``batch ID (stage): state, N requests, counts``; the id, state and counts are
    the vendor's words, made safe for a terminal."""
    counts = ", ".join(f"{name} {count}" for name, count in sorted(batch["counts"].items()))
    stored = "results stored" if batch["done"] else "results not stored yet"
    if batch.get("abandoned"):
        stored = "given up (bsa batches abandon), its requests asked again"
    words = f"{batch['id']} ({batch['stage']}): {batch['state']}, {batch['requests']} requests"
    return safe_line(f"batch {words}{f', {counts}' if counts else ''}; {stored}")
