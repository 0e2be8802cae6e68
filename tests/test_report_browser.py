"""The HTML report in a real browser: Debian's Chromium driven by Playwright.

What only a browser can show: the page opens without a console error or a request, the filters and
the search change what is shown, and hostile text in every field stays text: no payload runs
(``window.pwned`` stays unset, the title unchanged), and the Content-Security-Policy is in force.
The last test leaves a full-page screenshot at ``artifacts/report.png``.

Skipped, with the reason, when the ``playwright`` package or /usr/bin/chromium is missing (CI
installs both). Playwright's own downloaded browsers are not used.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bsa.output.report import collect_report, write_report
from bsa.output.report.page import render_page
from bsa.output.report.payload import sample_payload
from tests.test_report import (
    ALL_HOSTILE,
    HOSTILE,
    HOSTILE_ID,
    HOSTILE_MODEL,
    UNPAIRED,
    hostile_run,
)

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)

ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Chromium with a fresh profile for the module; a page per test."""
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tempfile.mkdtemp(dir=tmp_path_factory.mktemp("profile")),
            executable_path=str(CHROMIUM),
            args=ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


#: What the page shows once the sample browser has rendered its first page.
READY = "#sample-list[data-ready=true]"


@dataclass
class Opened:
    """A report open in a page, with everything the page did that it should not."""

    page: Any
    url: str
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (url, why)

    def count(self) -> int:
        self.settle()
        return int(self.page.get_attribute("#sample-list", "data-count"))

    def settle(self) -> None:
        """Wait for the list to show what was last asked for (a page's texts are unpacked
        before it is drawn)."""
        self.page.wait_for_selector(READY, state="attached")

    def wait_count(self, expected: int) -> None:
        self.page.wait_for_selector(
            f'#sample-list[data-count="{expected}"][data-ready="true"]', state="attached"
        )

    def card_texts(self, selector: str) -> list[str]:
        self.settle()
        return [str(t) for t in self.page.locator(f"#sample-list {selector}").all_inner_texts()]

    def assert_quiet(self) -> None:
        assert self.console == [] and self.errors == [] and self.dialogs == []
        assert self.requests == [self.url]


@pytest.fixture
def open_report(browser: Any) -> Iterator[Callable[..., Opened]]:
    """Opens a report and waits for ``ready`` (a selector), after ``before`` (a script run
    ahead of the page's own) if given."""
    pages: list[Any] = []

    def opener(report: Path, ready: str = READY, before: str | None = None) -> Opened:
        page = browser.new_page()
        pages.append(page)
        if before is not None:
            page.add_init_script(before)
        opened = Opened(page, report.as_uri())
        page.on(
            "console", lambda m: m.type in ("error", "warning") and opened.console.append(m.text)
        )
        page.on("pageerror", lambda error: opened.errors.append(str(error)))
        page.on("dialog", lambda dialog: (opened.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("request", lambda request: opened.requests.append(request.url))
        page.on("requestfailed", lambda r: opened.refused.append((r.url, r.failure or "")))
        page.goto(opened.url)
        page.wait_for_selector(ready, state="attached")
        return opened

    yield opener
    for page in pages:
        page.close()


@pytest.fixture(scope="module")
def mock_report(
    tmp_path_factory: pytest.TempPathFactory, mock_run_path: Path
) -> tuple[Path, dict[str, Any]]:
    """The report of a 100-item, k = 3 mock run, and its sample payload to count against."""
    report = tmp_path_factory.mktemp("browser-mock") / "report.html"
    return write_report(mock_run_path, report), sample_payload(collect_report(mock_run_path))


def expected(payload: dict[str, Any], keep: Callable[[list[Any], list[Any]], object]) -> int:
    """How many samples the browser should show for a filter written in Python."""
    return sum(bool(keep(row, payload["items"][row[0]])) for row in payload["samples"])


def test_report_opens_quietly(open_report: Callable[..., Opened], mock_report: Any) -> None:
    report, payload = mock_report
    opened = open_report(report)
    assert opened.count() == len(payload["samples"]) == 300
    assert opened.page.locator("#sample-list article.sample").count() == 25
    assert "Samples 1\u201325 of 300 matching" in opened.page.inner_text(".pager-status >> nth=0")
    assert opened.page.locator("svg.plot").count() == 4
    opened.assert_quiet()


def test_filters_change_the_visible_samples(
    open_report: Callable[..., Opened], mock_report: Any
) -> None:
    report, payload = mock_report
    opened = open_report(report)
    page = opened.page
    page.select_option("#f-scenario", "OS")
    assert opened.count() == expected(payload, lambda r, i: i[3] == "OS") == 30
    assert set(opened.card_texts(".tag.scenario")) == {"OS"}
    page.select_option("#f-safety", "fail")
    os_unsafe = expected(payload, lambda r, i: i[3] == "OS" and r[6] and r[6][2] == 0)
    assert opened.count() == os_unsafe
    assert set(opened.card_texts(".sample-head .badge.fail")) <= {
        "Safety: Unsafe",
        "Thinking: Over Sensitive",
        "Thinking: Not Covered",
    }
    page.click("#f-reset")
    page.select_option("#f-category", "p:Pornography")
    porn = expected(payload, lambda r, i: any(risk[1] == "Pornography" for risk in i[4]))
    assert opened.count() == porn > 0
    page.select_option("#f-thinking", "label:Partially Covered")
    assert opened.count() == expected(
        payload,
        lambda r, i: (
            any(k[1] == "Pornography" for k in i[4]) and r[7] and r[7][1] == "Partially Covered"
        ),
    )
    page.click("#f-reset")
    page.check("input.f-flag[value=no_reasoning]")
    assert opened.count() == expected(payload, lambda r, i: r[5] & 4) > 0
    assert set(opened.card_texts(".field.reasoning .empty")) == {"(none)"}
    opened.assert_quiet()


def test_search_finds_text_anywhere(open_report: Callable[..., Opened], mock_report: Any) -> None:
    report, payload = mock_report
    opened = open_report(report)
    item = payload["items"][7]
    opened.page.fill("#f-search", item[0].upper())  # by id, case-insensitive
    opened.wait_count(3)
    assert {t.split(" · ")[0] for t in opened.card_texts(".sample-id")} == {item[0]}
    words = " ".join(item[1].split()[:3]).lower()
    opened.page.fill("#f-search", words)
    opened.wait_count(expected(payload, lambda r, i: words in " ".join(i[1].lower().split())))
    opened.page.fill("#f-search", "no such text anywhere")
    opened.wait_count(0)
    assert opened.card_texts(".empty") == ["No sample matches these filters."]
    opened.assert_quiet()


def shown_texts(opened: Opened) -> list[tuple[str | None, str | None]]:
    """Each shown card's reasoning and answer as the page holds them (None: shown as none)."""
    opened.settle()

    def field(card: Any, name: str) -> str | None:
        text = card.locator(f".field.{name} .text")
        return str(text.text_content()) if text.count() else None

    cards = opened.page.locator("#sample-list article.sample").all()
    return [(field(card, "reasoning"), field(card, "answer")) for card in cards]


def texts_of(rows: list[list[Any]]) -> list[tuple[str | None, str | None]]:
    return [(row[3] or None, row[4] or None) for row in rows]


def test_pages_and_heatmap_cells(open_report: Callable[..., Opened], mock_report: Any) -> None:
    report, payload = mock_report
    opened = open_report(report)
    page = opened.page
    first = opened.card_texts(".sample-id")
    page.click(".pager >> nth=0 >> button[data-page=next]")
    opened.settle()
    assert "Samples 26\u201350 of 300" in page.inner_text(".pager-status >> nth=0")
    assert opened.card_texts(".sample-id")[0] not in first
    assert shown_texts(opened) == texts_of(payload["samples"][25:50])  # from chunk 1
    page.click(".pager >> nth=0 >> button[data-page=last]")
    opened.settle()
    assert shown_texts(opened) == texts_of(payload["samples"][275:])  # the last chunk
    assert page.locator("#sample-list article.sample").count() == 300 - 11 * 25
    assert page.is_disabled(".pager >> nth=0 >> button[data-page=next]")
    page.click('rect.heat-cell[data-category="Rumors"][data-scenario="CS"]')
    assert page.input_value("#f-category") == "p:Rumors" and page.input_value("#f-scenario") == "CS"
    rumors_cs = lambda r, i: i[3] == "CS" and any(k[1] == "Rumors" for k in i[4])  # noqa: E731
    assert opened.count() == expected(payload, rumors_cs) > 0
    opened.assert_quiet()


def test_hostile_text_stays_text(open_report: Callable[..., Opened], tmp_path: Path) -> None:
    """Every field holds script, img/onerror, </textarea>, </script>, javascript: links and
    more; in the browser none of it runs and all of it reads as text."""
    report = write_report(hostile_run(tmp_path / "hostile.sqlite"), tmp_path / "report.html")
    opened = open_report(report)
    page = opened.page
    title = page.title()
    assert title.startswith("BSA report: openai:<img src=x onerror=")
    assert page.inner_text("h1") == f"BSA report: {HOSTILE_MODEL}"
    shown = page.inner_text("#sample-list")
    for name in ("script", "img", "textarea", "script_close", "link", "svg", "meta", "private"):
        assert HOSTILE[name] in shown, name
    assert HOSTILE_ID in shown
    for details in page.locator("#sample-list details").all():
        details.click()  # the judge's raw reply of unusable verdicts
    for term in ("onerror", "</script>", "javascript:", "<svg"):
        page.fill("#f-search", term)
        page.wait_for_timeout(250)
        assert opened.count() > 0, term
    page.click("#f-reset")
    page.check("input.f-flag[value=unscored]")
    assert opened.count() == 2
    assert page.evaluate("() => window.pwned") is None
    assert page.evaluate("() => window.parent.pwned") is None
    assert page.title() == title
    assert page.locator("img, iframe, object, embed, base, link, textarea").count() == 0
    assert page.locator("script").count() == 3 and page.locator("a").count() == 7  # the toc
    opened.assert_quiet()
    ARTIFACTS.mkdir(exist_ok=True)
    page.click("#f-reset")
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_the_policy_is_enforced(open_report: Callable[..., Opened], tmp_path: Path) -> None:
    """Even a script bug could not turn text into markup or code, nor reach the network: the CSP
    blocks inline event handlers and fetches, and Trusted Types make HTML string sinks throw.
    (eval cannot be tested from here: code run through DevTools is exempt from that check.)"""
    report = write_report(hostile_run(tmp_path / "hostile.sqlite"), tmp_path / "report.html")
    opened = open_report(report)
    outcomes = opened.page.evaluate(
        """async () => {
          const attempt = (f) => { try { f(); return "allowed"; } catch (e) { return e.name; } };
          let fetched = "allowed";
          try { await fetch("http://127.0.0.1:9/leak"); } catch (e) { fetched = e.name; }
          return {
            innerHTML: attempt(() => { document.body.innerHTML = "<b>x</b>"; }),
            scriptText: attempt(() => { document.createElement("script").textContent = "1"; }),
            timerString: attempt(() => setTimeout("window.pwned = 'timer'", 0)),
            handler: attempt(() => document.body.setAttribute("onclick", "window.pwned = 1")),
            fetch: fetched,
          };
        }"""
    )
    assert outcomes == {
        "innerHTML": "TypeError", "scriptText": "TypeError", "timerString": "TypeError",
        "handler": "TypeError", "fetch": "TypeError",
    }  # fmt: skip
    opened.page.wait_for_timeout(100)
    assert opened.page.evaluate("() => window.pwned") is None
    assert opened.requests == [opened.url]  # the fetch never left the page
    assert opened.refused == []
    assert any("Content Security Policy" in message for message in opened.console)
    assert opened.page.locator("#sample-list article.sample").count() == 6  # body intact


def test_markup_that_escaped_escaping_still_could_not_run(
    open_report: Callable[..., Opened], tmp_path: Path
) -> None:
    """Defence in depth: a copy of a report with raw payloads pasted into its body (as if an
    escaping bug had let them through) runs none of them, and loads nothing."""
    report = write_report(hostile_run(tmp_path / "hostile.sqlite"), tmp_path / "report.html")
    pasted = (
        HOSTILE["script"] + HOSTILE["img"] + "<svg onload=\"window.pwned='svg'\"></svg>"
        "<script src=x.js></script>"
    )
    html = report.read_text(encoding="utf-8").replace("<main>", "<main>" + pasted, 1)
    tampered = tmp_path / "tampered.html"
    tampered.write_text(html, encoding="utf-8")
    opened = open_report(tampered)
    opened.page.wait_for_timeout(200)
    assert opened.page.evaluate("() => window.pwned") is None
    assert not opened.page.title().endswith("pwned")
    fetched = [url for url in opened.requests if url not in dict(opened.refused)]
    assert fetched == [opened.url]
    assert sorted(opened.refused) == [
        (f"{tmp_path.as_uri()}/x", "csp"),
        (f"{tmp_path.as_uri()}/x.js", "csp"),
    ]
    assert sum("Content Security Policy" in message for message in opened.console) >= 3
    assert opened.page.locator("#sample-list article.sample").count() == 6


#: The UTF-16 code units of a field's text as the page holds it (a lone surrogate included,
#: which would not survive the trip to Python as a string).
CODE_UNITS = """(selector) => {
  const text = document.querySelector(selector).textContent;
  return Array.from({ length: text.length }, (_, i) => text.charCodeAt(i));
}"""


def code_units(text: str) -> list[int]:
    raw = text.encode("utf-16-le", "surrogatepass")
    return [int.from_bytes(raw[i : i + 2], "little") for i in range(0, len(raw), 2)]


def test_packed_samples_read_exactly(open_report: Callable[..., Opened], tmp_path: Path) -> None:
    """Through word coding, gzip, base64 and DecompressionStream, the browser shows each text
    unit for unit: lone surrogates, NUL, ``</script>``, the rest of the hostile payloads,
    private-use characters of both planes the codes use, and more distinct words than the short
    codes hold (so some take plane 15's)."""
    data = collect_report(hostile_run(tmp_path / "hostile.sqlite"))
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = " ".join(
        "zz" + "".join(letters[n // 26**e % 26] for e in range(5)) for n in range(7000)
    )
    private = f"\ue000\ue001\uf8ff \U000f0000\U000ffffd\U0010ffff \udb80 {chr(0xE000 + 6399)}"
    reasoning = f"{UNPAIRED} {ALL_HOSTILE} {private} {words} {words}"
    first = dataclasses.replace(data.generations[0], reasoning=reasoning, answer=UNPAIRED)
    data = dataclasses.replace(data, generations=[first, *data.generations[1:]])
    report = tmp_path / "report.html"
    report.write_text(render_page(data), encoding="utf-8")
    opened = open_report(report)
    card = "#sample-list article.sample:first-child"
    shown = opened.page.evaluate(CODE_UNITS, f"{card} .field.reasoning .text")
    assert shown == code_units(reasoning)
    assert opened.page.evaluate(CODE_UNITS, f"{card} .field.answer .text") == code_units(UNPAIRED)
    query = data.items[0].query
    assert opened.page.evaluate(CODE_UNITS, f"{card} .field.query .text") == code_units(query)
    assert opened.page.evaluate("() => window.pwned") is None
    opened.assert_quiet()


@pytest.mark.parametrize(
    ("case", "before", "message"),
    [
        ("no DecompressionStream", "delete window.DecompressionStream;", "no DecompressionStream"),
        ("damaged data", None, "could not be unpacked"),
    ],
)
def test_samples_that_cannot_be_unpacked_are_one_line(
    open_report: Callable[..., Opened], tmp_path: Path, case: str, before: str | None,
    message: str,
) -> None:  # fmt: skip
    """An older browser, or a file whose data was damaged, shows why in place of the samples,
    and the figures above are still there."""
    report = write_report(hostile_run(tmp_path / "hostile.sqlite"), tmp_path / "report.html")
    if before is None:
        page = report.read_text(encoding="utf-8").replace(
            'id="bsa-data">H4sI', 'id="bsa-data">AAAA'
        )
        report.write_text(page, encoding="utf-8")
    opened = open_report(report, "#sample-list[data-failed=true]", before)
    lines = opened.page.locator("#sample-list p").all_inner_texts()
    assert [message in line for line in lines] == [True], case
    assert opened.page.locator("#sample-list article.sample").count() == 0
    assert opened.page.locator("svg.plot").count() == 4
    assert opened.errors == [] and opened.requests == [opened.url]


def test_a_summary_only_report_runs_nothing(
    open_report: Callable[..., Opened], tmp_path: Path
) -> None:
    """``samples=False``: the figures, no sample browser, no script, a quiet console."""
    run = hostile_run(tmp_path / "hostile.sqlite")
    report = write_report(run, tmp_path / "summary.html", samples=False)
    opened = open_report(report, "footer")
    page = opened.page
    assert page.locator("script").count() == 0 and page.locator("#sample-list").count() == 0
    assert page.locator("svg.plot").count() == 4
    assert page.inner_text("h1") == f"BSA report: {HOSTILE_MODEL}"
    assert page.evaluate("() => window.pwned") is None
    opened.assert_quiet()
