"""How big the HTML report of a 10,000-sample run is, and how fast it opens in a browser.

The report embeds every sample, so its size grows with the run; the sample browser renders one
page of 25, so opening should stay fast however many samples there are. This builds (or reuses)
a 2,000-item x k = 5 run with the mock model and judge (``bsa run --model mock --judge mock -k 5``),
writes its report, and opens it in headless Chromium (Debian's /usr/bin/chromium through
Playwright) until the sample browser has rendered; then times a filter and a search over all
samples. Run: ``python benchmarks/report_size.py [--run PATH] [--repeat N]``.

Mock texts are short (about 250 characters of reasoning per sample); a real reasoning model writes
several thousand, and the report grows with that text (about 1 MB per 1,000 samples per 1,000
characters of reasoning).
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bsa.report import write_report

DATA = Path(os.environ.get("BSA_DATA_DIR") or Path(__file__).parents[2] / "shared" / "bsa")
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
READY = "#sample-list[data-ready=true]"
#: Times a search in the page: from typing to the list's update, less the script's 150 ms debounce.
SEARCH = """async (term) => {
  const list = document.getElementById("sample-list");
  const box = document.getElementById("f-search");
  const updated = new Promise((resolve) => {
    const observer = new MutationObserver(() => { observer.disconnect(); resolve(); });
    observer.observe(list, { attributes: true, attributeFilter: ["data-count"] });
  });
  const start = performance.now();
  box.value = term;
  box.dispatchEvent(new Event("input"));
  await updated;
  return [performance.now() - start - 150, Number(list.dataset.count)];
}"""
FILTER = """(value) => {
  const select = document.getElementById("f-scenario");
  const start = performance.now();
  select.value = value;
  select.dispatchEvent(new Event("change"));
  return [performance.now() - start, Number(document.getElementById("sample-list").dataset.count)];
}"""


def build_run(path: Path, items: int, k: int) -> None:
    """A mock run of ``items`` items (stratified sample; 2,000 = the whole benchmark)."""
    sample = [] if items >= 2000 else ["--sample", str(items)]
    command = [sys.executable, "-m", "bsa", "run", "--run", str(path), "--model", "mock",
               "--judge", "mock", "-k", str(k), *sample]  # fmt: skip
    env = {**os.environ, "BSA_DATA_DIR": str(DATA)}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)


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
            "filter": page.evaluate(FILTER, "CS"),
            "first_search": page.evaluate(SEARCH, "risk"),
            "second_search": page.evaluate(SEARCH, "privacy"),
        }
        browser.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, help="an existing run file (else a mock run is built)")
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bsa-report-"))
    run = args.run or folder / "run.sqlite"
    if args.run is None:
        start = time.perf_counter()
        build_run(run, args.items, args.k)
        print(f"mock run: {args.items} items x k {args.k} in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    report = write_report(run, folder / "report.html")
    written = time.perf_counter() - start
    raw = report.read_bytes()
    print(f"report: {report} written in {written:.1f} s")
    print(f"size: {len(raw) / 1e6:.2f} MB ({len(gzip.compress(raw)) / 1e6:.2f} MB gzipped)")
    opened = measure_open(report, args.repeat)
    print(
        f"open until the sample browser rendered: best {opened['open_best_s'] * 1e3:.0f} ms, "
        f"median {opened['open_median_s'] * 1e3:.0f} ms; JS heap {opened['heap_mb']:.0f} MB"
    )
    for name in ("filter", "first_search", "second_search"):
        elapsed, matches = opened[name]
        print(f"{name.replace('_', ' ')}: {elapsed:.0f} ms ({matches} matching samples)")


if __name__ == "__main__":
    main()
