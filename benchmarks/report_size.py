"""How big the HTML report of a 10,000-sample run is, and how fast its sample browser renders.

The report embeds every sample (gzip-compressed, in base64), so its size grows with the run's
text; opening unpacks the rows the filters read and the reasoning and answers of the first page
of 25, not the other texts. This builds (or copies) a 2,000-item x k = 5 run with the mock model
and judge (``bsa run --model mock --judge mock -k 5``), gives every sample a realistic reasoning of
``--reasoning-chars`` characters (8,000 by default; 0 keeps the mock's 250), writes its report,
and opens it in headless Chromium (Debian's /usr/bin/chromium through Playwright) until the sample
browser has rendered; then times a filter and a first search (which unpacks every text) and a
second one. Each figure is printed against its target (issue 14: <= 30 MB, <= 3 s). Run:
``python benchmarks/report_size.py [--run PATH] [--reasoning-chars N] [--repeat N]``.

The realistic reasoning is not a repeated filler, which gzip would shrink to nothing: each sample
restates its own item's query and risk summary, then goes on with sentences drawn at random (seeded
by item and sample) from every query and risk summary of the dataset, as a reasoning model weighs
other risks and cases. Deflate packs this prose about 3x.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bsa.output.report import write_report

DATA = Path(os.environ.get("BSA_DATA_DIR") or Path(__file__).parents[2] / "shared" / "bsa")
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
READY = "#sample-list[data-ready=true]"
#: Issue 14's targets for 10,000 samples with 8,000-character reasoning.
TARGET_MB = 30.0
TARGET_OPEN_S = 3.0
#: Times a change in the page: from the control's event to the list's update (the list is redrawn
#: once the page's texts are unpacked), less the search's 150 ms debounce.
CHANGE = """async ([id, value, event, debounce]) => {
  const list = document.getElementById("sample-list");
  const control = document.getElementById(id);
  const updated = new Promise((resolve) => {
    const observer = new MutationObserver(() => {
      if (list.dataset.ready !== "true") return;
      observer.disconnect();
      resolve();
    });
    observer.observe(list, { attributes: true, attributeFilter: ["data-ready"] });
  });
  const start = performance.now();
  control.value = value;
  control.dispatchEvent(new Event(event));
  await updated;
  return [performance.now() - start - debounce, Number(list.dataset.count)];
}"""
FILTER = ["f-scenario", "CS", "change", 0]
SEARCH = ["f-search", "", "input", 150]


def build_run(path: Path, items: int, k: int) -> None:
    """A mock run of ``items`` items (stratified sample; 2,000 = the whole benchmark)."""
    sample = [] if items >= 2000 else ["--sample", str(items)]
    command = [sys.executable, "-m", "bsa", "run", "--run", str(path), "--model", "mock",
               "--judge", "mock", "-k", str(k), *sample]  # fmt: skip
    env = {**os.environ, "BSA_DATA_DIR": str(DATA)}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)


def lengthen_reasoning(run: Path, chars: int) -> tuple[int, float]:
    """Give every sample (blocked and failed ones too, as the target counts 10,000) a realistic
    reasoning of ``chars`` characters (see the module docstring); returns how many samples and
    the mean length of their answers."""
    with sqlite3.connect(run) as connection:
        prompts = connection.execute("SELECT item_id, query, risk_summary FROM prompts").fetchall()
        items = {item: f"{query} {summary or ''}" for item, query, summary in prompts}
        sentences = [s for text in items.values() for s in re.split(r"(?<=[.?!])\s+", text) if s]
        rows = connection.execute(
            "SELECT item_id, sample, length(answer) FROM generations"
        ).fetchall()
        connection.executemany(
            "UPDATE generations SET reasoning = ? WHERE item_id = ? AND sample = ?",
            ((reasoning(items[item], sentences, f"{item}:{n}", chars), item, n)
             for item, n, _ in rows),
        )  # fmt: skip
    return len(rows), statistics.fmean(length or 0 for *_, length in rows)


def reasoning(own: str, sentences: list[str], seed: str, chars: int) -> str:
    """The item's own text, then sentences drawn from the whole dataset, cut at ``chars``."""
    draw = random.Random(seed)
    parts, size = [f"The user asks: {own}"], len(own)
    while size < chars:
        parts.append(draw.choice(sentences))
        size += len(parts[-1]) + 1
    return " ".join(parts)[:chars]


def measure_open(report: Path, repeat: int) -> dict[str, Any]:
    """Wall time from navigation to the first rendered page of samples, best and median; then
    the cost of a filter and of a first and a second search over every sample."""
    from playwright.sync_api import sync_playwright

    times: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            tempfile.mkdtemp(), executable_path=CHROMIUM, args=ARGS, headless=True
        )
        for _ in range(repeat):
            page = browser.new_page()
            start = time.perf_counter()
            page.goto(report.as_uri(), wait_until="commit")
            page.wait_for_selector(READY, state="attached")
            times.append(time.perf_counter() - start)
            page.close()
        page = browser.new_page()
        page.goto(report.as_uri())
        page.wait_for_selector(READY, state="attached")
        result = {
            "open_best_s": min(times),
            "open_median_s": statistics.median(times),
            "heap_mb": page.evaluate("() => performance.memory.usedJSHeapSize") / 1e6,
            "filter": page.evaluate(CHANGE, FILTER),
            "first_search": page.evaluate(CHANGE, [*SEARCH[:1], "risk", *SEARCH[2:]]),
            "second_search": page.evaluate(CHANGE, [*SEARCH[:1], "privacy", *SEARCH[2:]]),
        }
        browser.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, help="an existing run file (else a mock run is built)")
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--reasoning-chars", type=int, default=8000, help="0: the mock's text")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bsa-report-"))
    run = folder / "run.sqlite"
    if args.run is None:
        start = time.perf_counter()
        build_run(run, args.items, args.k)
        print(f"mock run: {args.items} items x k {args.k} in {time.perf_counter() - start:.1f} s")
    else:
        shutil.copyfile(args.run, run)  # the reasoning is rewritten in the copy only
    if args.reasoning_chars:
        samples, answer = lengthen_reasoning(run, args.reasoning_chars)
        print(
            f"reasoning: {samples} samples x {args.reasoning_chars:,} characters from the "
            f"dataset's queries and risk summaries (answers: {answer:.0f} characters on average)"
        )
    report_and_open(run, folder, args.repeat)


def report_and_open(run: Path, folder: Path, repeat: int) -> None:
    start = time.perf_counter()
    report = write_report(run, folder / "report.html")
    written = time.perf_counter() - start
    raw = report.read_bytes()
    size = len(raw) / 1e6
    print(f"report: {report} written in {written:.1f} s")
    print(f"size: {size:.2f} MB ({len(gzip.compress(raw)) / 1e6:.2f} MB gzipped); "
          f"target <= {TARGET_MB:.0f} MB: {size / TARGET_MB:.2f} of it")  # fmt: skip
    opened = measure_open(report, repeat)
    best, median = opened["open_best_s"], opened["open_median_s"]
    print(
        f"open until the sample browser rendered: best {best * 1e3:.0f} ms, median "
        f"{median * 1e3:.0f} ms; target <= {TARGET_OPEN_S:.0f} s: median "
        f"{median / TARGET_OPEN_S:.2f} of it; JS heap {opened['heap_mb']:.0f} MB"
    )
    for name in ("filter", "first_search", "second_search"):
        elapsed, matches = opened[name]
        print(f"{name.replace('_', ' ')}: {elapsed:.0f} ms ({matches} matching samples)")
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
