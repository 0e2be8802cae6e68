"""The sample browser's script: filters, search and pages over the embedded samples.

The controls' markup is here too, beside the script that finds them by id. Vanilla JavaScript,
inline so the file stays self-contained, allowed by its hash in the page's Content-Security-Policy.
It builds every node with ``createElement`` and ``textContent``: model text is never parsed as
HTML, and the policy's Trusted Types requirement makes any ``innerHTML`` assignment throw, so a
slip would fail loudly instead of opening a hole. The samples arrive word coded
(:mod:`bsa.output.report.wordcode`), as gzip in base64 (under half their JSON's size) and are unpacked with the browser's own ``DecompressionStream``, which needs no
network and no policy exception; a browser without it shows one line saying so. Opening unpacks
the rows (what the filters read) and the reasoning and answers of the first page only; other
texts are unpacked a chunk at a time as pages show them, and all at once for the first search
(see :mod:`bsa.output.report.payload`). Only one page of samples is in the DOM at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

from bsa.benchmark import BSA_V1, CATEGORIES
from bsa.judging.verdicts import NO_REASONING, THINKING_SPECS
from bsa.output.report import wordcode
from bsa.output.report.html import text
from bsa.output.report.payload import FLAGS

PAGE_SIZE = 25

BROWSER_SCRIPT = r"""
(function () {
  "use strict";
  const PAGE_SIZE = __PAGE_SIZE__;
  const UNSUPPORTED = "This browser cannot unpack the samples (it has no DecompressionStream): "
    + "open the report in a current Chrome, Edge, Firefox or Safari; the figures above are whole.";

  function bytesOf(base64) {
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(base64);
    const binary = atob(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  // The JSON packed in base64, its UTF-8 bytes passed through ``decode`` first when given.
  async function unpack(base64, decode) {
    const stream = new Blob([bytesOf(base64)]).stream();
    const unpacked = new Response(stream.pipeThrough(new DecompressionStream("gzip")));
    if (!decode) return unpacked.json();
    const bytes = new Uint8Array(await unpacked.arrayBuffer());
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(decode(bytes)));
  }

  function damaged(error) {
    fail("The sample data could not be unpacked (" + error.name + "); the file may be damaged.");
  }

  function fail(message) {
    const list = document.getElementById("sample-list");
    const line = document.createElement("p");
    line.className = "empty unpack-failed";
    line.textContent = message;
    list.replaceChildren(line);
    list.dataset.failed = "true";
  }

  if (typeof DecompressionStream !== "function") {
    fail(UNSUPPORTED);
    return;
  }
  unpack(document.getElementById("bsa-data").textContent).then(browse, damaged);

  function browse(data) {
    const packed = document.getElementById("bsa-texts").textContent;
    const chunks = packed ? packed.split(",") : [];
    const unpacking = new Map();
    const field = (kind, name) => data.fields[kind].indexOf(name);
    const I = {}, S = {}, V = {}, N = {};
    for (const [kind, target] of [["item", I], ["sample", S], ["verdict", V], ["info", N]]) {
      for (const name of data.fields[kind]) target[name] = field(kind, name);
    }
    const $ = (id) => document.getElementById(id);
    const list = $("sample-list");
    const controls = {
      scenario: $("f-scenario"), category: $("f-category"), safety: $("f-safety"),
      thinking: $("f-thinking"), search: $("f-search"),
    };
    const flagBoxes = Array.from(document.querySelectorAll("input.f-flag"));
    let matches = [], page = 0, haystack = null, filtering = 0, rendering = 0;

    // Word coding (bsa.output.report.wordcode): word n is the private-use character U+E001 + n,
    // or U+F0000 + (n - __SHORT_CODES__) past U+F8FF; U+E000 escapes a private-use character of
    // the text itself. Decoded in the chunk's UTF-8 bytes, before they become strings: a full
    // run's texts hold millions of codes, and building strings piece by piece spent most of the
    // first search in the garbage collector (6.5 s of 15).
    const wordBytes = data.words.map((word) => Uint8Array.from(word, (c) => c.charCodeAt(0)));

    // The code at bytes[i] (-1: none): U+E000..U+F8FF is EE/EF and two bytes, U+F0000..U+FFFFF
    // is F3 and three bytes; the file's UTF-8 is valid, so a byte >= EE always leads a character.
    function codeAt(bytes, i) {
      const lead = bytes[i];
      if (lead === 0xEE || lead === 0xEF) {
        return ((lead & 0x0F) << 12) | ((bytes[i + 1] & 0x3F) << 6) | (bytes[i + 2] & 0x3F);
      }
      if (lead === 0xF3) {
        return ((bytes[i + 1] & 0x3F) << 12 | (bytes[i + 2] & 0x3F) << 6 | (bytes[i + 3] & 0x3F))
          + 0xC0000;
      }
      return -1;
    }

    function wordAt(point) {
      if (point >= __FIRST__ && point <= 0xF8FF) return wordBytes[point - __FIRST__];
      if (point >= __FIRST_LONG__ && point <= 0xFFFFD) {
        return wordBytes[point - __FIRST_LONG__ + __SHORT_CODES__];
      }
      return undefined;
    }

    // The decoded bytes: a first pass counts them, a second writes them.
    function decodeWords(bytes) {
      const out = new Uint8Array(decodeInto(bytes, null));
      decodeInto(bytes, out);
      return out;
    }

    // Writes the decoded ``bytes`` into ``out`` (unless null); returns their length.
    function decodeInto(bytes, out) {
      let o = 0;
      for (let i = 0; i < bytes.length;) {
        const lead = bytes[i];
        let copy = 1;
        if (lead >= 0xEE) {
          const point = codeAt(bytes, i);
          const width = lead >= 0xF0 ? 4 : 3;
          const word = point < 0 ? undefined : wordAt(point);
          if (point === 0xE000) {  // an escaped character: kept as it is
            i += 3;
            copy = bytes[i] >= 0xF0 ? 4 : 3;
          } else if (word !== undefined) {
            if (out) out.set(word, o);
            o += word.length;
            i += width;
            continue;
          } else {
            copy = width;
          }
        }
        for (const end = i + copy; i < end; i++, o++) if (out) out[o] = bytes[i];
      }
      return o;
    }

    // Reasoning and answer come in packed chunks, unpacked into their rows when first needed.
    function unpackChunk(chunk) {
      if (!unpacking.has(chunk)) {
        unpacking.set(chunk, unpack(chunks[chunk], decodeWords).then((texts) => {
          texts.forEach((values, n) => {
            const row = data.samples[chunk * data.text_chunk + n];
            data.text_fields.forEach((name, f) => { row[S[name]] = values[f]; });
          });
        }, (error) => { damaged(error); throw error; }));
      }
      return unpacking.get(chunk);
    }

    function withTexts(indices) {
      const needed = new Set(indices.map((index) => Math.floor(index / data.text_chunk)));
      return Promise.all(Array.from(needed, unpackChunk));
    }

    function allTexts() { return Promise.all(chunks.map((_, chunk) => unpackChunk(chunk))); }

    function el(tag, className, text) {
      const node = document.createElement(tag);
      if (className) node.className = className;
      if (text !== undefined && text !== null) node.textContent = String(text);
      return node;
    }

    function itemOf(row) { return data.items[row[S.item]]; }

    function inCategory(item, wanted) {
      const level = wanted.slice(0, 2) === "p:" ? 1 : 2;
      const name = wanted.slice(2);
      return item[I.risks].some((risk) => risk[level] === name);
    }

    function verdictMatches(verdict, wanted) {
      if (!wanted) return true;
      if (wanted === "missing") return verdict === null;
      if (verdict === null) return false;
      const scored = verdict[V.status] === "scored";
      if (wanted === "unscored") return !scored;
      if (!scored) return false;
      if (wanted === "pass") return verdict[V.passed] === 1;
      if (wanted === "fail") return verdict[V.passed] === 0;
      return "label:" + verdict[V.verdict] === wanted;
    }

    function textOf(row) {
      const item = itemOf(row);
      const parts = [item[I.id], item[I.query], item[I.risk_summary], row[S.reasoning],
        row[S.answer], row[S.info][N.error]];
      for (const verdict of [row[S.safety], row[S.thinking]]) {
        if (verdict) parts.push(verdict[V.verdict], verdict[V.rationale], verdict[V.reason]);
      }
      return parts.filter((p) => p !== null && p !== undefined).join("\n").toLowerCase();
    }

    function searchIndex() {
      if (haystack === null) haystack = data.samples.map(textOf);
      return haystack;
    }

    function currentFilter() {
      let flags = 0;
      for (const box of flagBoxes) if (box.checked) flags |= data.flags[box.value];
      const terms = controls.search.value.toLowerCase().split(/\s+/).filter(Boolean);
      return {
        scenario: controls.scenario.value, category: controls.category.value,
        safety: controls.safety.value, thinking: controls.thinking.value,
        flags: flags, terms: terms,
      };
    }

    function matchesFilter(row, index, f) {
      const item = itemOf(row);
      if (f.scenario && item[I.scenario] !== f.scenario) return false;
      if (f.category && !inCategory(item, f.category)) return false;
      if ((row[S.flags] & f.flags) !== f.flags) return false;
      if (!verdictMatches(row[S.safety], f.safety)) return false;
      if (!verdictMatches(row[S.thinking], f.thinking)) return false;
      if (f.terms.length) {
        const text = searchIndex()[index];
        if (!f.terms.every((term) => text.includes(term))) return false;
      }
      return true;
    }

    async function applyFilters() {
      const f = currentFilter();
      const ticket = ++filtering;
      list.dataset.ready = "false";
      if (f.terms.length && unpacking.size < chunks.length) {
        showStatus("Unpacking every sample's text for the search\u2026");
        await allTexts();
      }
      if (ticket !== filtering) return;  // a newer filter has started
      matches = [];
      data.samples.forEach((row, index) => {
        if (matchesFilter(row, index, f)) matches.push(index);
      });
      page = 0;
      render();
    }

    function section(title, text, className) {
      const box = el("section", "field " + (className || ""));
      box.appendChild(el("h4", null, title));
      if (text === null || text === undefined || text === "") {
        box.appendChild(el("p", "empty", "(none)"));
      } else {
        box.appendChild(el("div", "text", text));
      }
      return box;
    }

    function verdictBadge(kind, verdict) {
      if (verdict === null) return el("span", "badge missing", kind + ": not judged");
      if (verdict[V.status] !== "scored") {
        return el("span", "badge unscored", kind + ": " + verdict[V.status]);
      }
      const state = verdict[V.passed] === 1 ? "pass" : "fail";
      return el("span", "badge " + state, kind + ": " + verdict[V.verdict]);
    }

    function verdictSection(kind, verdict) {
      const box = el("section", "field verdict");
      box.appendChild(el("h4", null, kind + " verdict"));
      if (verdict === null) {
        box.appendChild(el("p", "empty", "No verdict from this judge."));
        return box;
      }
      const head = el("p", "verdict-line");
      head.appendChild(verdictBadge(kind, verdict));
      if (verdict[V.reason]) head.appendChild(el("span", "reason", "reason: " + verdict[V.reason]));
      box.appendChild(head);
      if (verdict[V.rationale]) box.appendChild(el("div", "text", verdict[V.rationale]));
      if (verdict[V.raw]) {
        const raw = el("details", "raw");
        raw.appendChild(el("summary", null, "The judge's reply"));
        raw.appendChild(el("div", "text", verdict[V.raw]));
        box.appendChild(raw);
      }
      return box;
    }

    function infoLine(row) {
      const info = row[S.info];
      const parts = ["status " + row[S.status]];
      if (info[N.reasoning_source]) parts.push("reasoning from " + info[N.reasoning_source]);
      if (info[N.finish_reason]) parts.push("finish " + info[N.finish_reason]);
      if (info[N.completion_tokens] !== null) parts.push(info[N.completion_tokens] + " tokens");
      if (info[N.latency_s] !== null) parts.push(info[N.latency_s] + " s");
      if (info[N.attempts] > 1) parts.push(info[N.attempts] + " attempts");
      return el("p", "info", parts.join(" · "));
    }

    function header(row, item) {
      const head = el("header", "sample-head");
      head.appendChild(el("span", "sample-id", item[I.id] + " · sample " + (row[S.sample] + 1)));
      head.appendChild(el("span", "tag scenario", item[I.scenario]));
      for (const risk of item[I.risks]) {
        const part = risk[0] ? "Query " + risk[0] + ": " : "";
        head.appendChild(el("span", "tag category", part + risk[1] + " \u203a " + risk[2]));
      }
      head.appendChild(verdictBadge("Safety", row[S.safety]));
      head.appendChild(verdictBadge("Thinking", row[S.thinking]));
      for (const [name, bit] of Object.entries(data.flags)) {
        if (row[S.flags] & bit) head.appendChild(el("span", "badge flag", name.replace("_", " ")));
      }
      return head;
    }

    function card(index) {
      const row = data.samples[index];
      const item = itemOf(row);
      const box = el("article", "sample");
      box.dataset.index = String(index);
      box.appendChild(header(row, item));
      box.appendChild(section("Query", item[I.query], "query"));
      box.appendChild(section("Risk summary", item[I.risk_summary], "risk"));
      box.appendChild(section("Reasoning", row[S.reasoning], "reasoning"));
      box.appendChild(section("Answer", row[S.answer], "answer"));
      box.appendChild(verdictSection("Safety", row[S.safety]));
      box.appendChild(verdictSection("Thinking", row[S.thinking]));
      if (row[S.info][N.error]) box.appendChild(section("Error", row[S.info][N.error], "error"));
      box.appendChild(infoLine(row));
      return box;
    }

    function showStatus(status) {
      for (const node of document.querySelectorAll(".pager-status")) node.textContent = status;
    }

    function pages() { return Math.max(1, Math.ceil(matches.length / PAGE_SIZE)); }

    async function render() {
      const start = page * PAGE_SIZE;
      const shown = matches.slice(start, start + PAGE_SIZE);
      const ticket = ++rendering;
      list.dataset.ready = "false";  // until this page's texts are unpacked and shown
      await withTexts(shown);
      if (ticket !== rendering) return;  // a newer page or filter has been asked for
      list.replaceChildren(...shown.map(card));
      if (!shown.length) list.appendChild(el("p", "empty", "No sample matches these filters."));
      const fmt = (n) => n.toLocaleString("en-US");
      const status = matches.length
        ? "Samples " + fmt(start + 1) + "\u2013" + fmt(start + shown.length)
          + " of " + fmt(matches.length) + " matching (" + fmt(data.samples.length)
          + " in the run) · page " + (page + 1) + " of " + pages()
        : "0 of " + fmt(data.samples.length) + " samples match";
      showStatus(status);
      for (const button of document.querySelectorAll(".pager button")) {
        const move = button.dataset.page;
        button.disabled = (move === "first" || move === "prev") ? page === 0 : page >= pages() - 1;
      }
      list.dataset.ready = "true";
      list.dataset.count = String(matches.length);
    }

    function go(move) {
      const last = pages() - 1;
      const targets = { first: 0, prev: Math.max(0, page - 1), next: Math.min(last, page + 1) };
      page = move === "last" ? last : targets[move];
      render();
      list.scrollIntoView({ block: "start" });
    }

    function reset() {
      for (const name of ["scenario", "category", "safety", "thinking", "search"]) {
        controls[name].value = "";
      }
      for (const box of flagBoxes) box.checked = false;
      applyFilters();
    }

    function filterFromCell(cell) {
      reset();
      controls.category.value = "p:" + cell.dataset.category;
      controls.scenario.value = cell.dataset.scenario === "all" ? "" : cell.dataset.scenario;
      applyFilters();
      $("samples").scrollIntoView({ block: "start" });
    }

    let typing = null;
    for (const name of ["scenario", "category", "safety", "thinking"]) {
      controls[name].addEventListener("change", applyFilters);
    }
    for (const box of flagBoxes) box.addEventListener("change", applyFilters);
    controls.search.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(applyFilters, 150);
    });
    $("f-reset").addEventListener("click", reset);
    for (const button of document.querySelectorAll(".pager button")) {
      button.addEventListener("click", () => go(button.dataset.page));
    }
    for (const cell of document.querySelectorAll(".heat-cell")) {
      cell.addEventListener("click", () => filterFromCell(cell));
      cell.addEventListener("keydown", (event) => {
        if (event.key !== "Enter" && event.key !== " ") return;
        event.preventDefault();
        filterFromCell(cell);
      });
    }
    applyFilters();
  }
})();
"""
for _name, _value in {
    "__PAGE_SIZE__": PAGE_SIZE,
    "__FIRST__": wordcode.FIRST,
    "__FIRST_LONG__": wordcode.FIRST_LONG,
    "__SHORT_CODES__": wordcode.SHORT_CODES,
}.items():
    BROWSER_SCRIPT = BROWSER_SCRIPT.replace(_name, str(_value))


def browser_controls() -> str:
    """The filters, two pagers and the (empty) list the script fills."""
    return (
        f'<div class="filters" role="search">{_filters()}</div>{_pager()}'
        '<div id="sample-list" aria-live="polite"></div>'
        f"{_pager()}<noscript><p>The sample browser needs JavaScript; "
        "everything above does not.</p></noscript>"
    )


def _filters() -> str:
    scenarios = [("", "All scenarios")] + [
        (s.code, f"{s.value} ({s.code})") for s in BSA_V1.scenarios
    ]
    verdicts = [("unscored", "Unscored or failed"), ("missing", "Not judged")]
    safety = [("", "Any"), ("pass", "Safe"), ("fail", "Unsafe"), *verdicts]
    thinking = [("", "Any"), ("pass", "Accurate (pass)"), ("fail", "Not accurate (fail)"),
                *_thinking_labels(), *verdicts]  # fmt: skip
    flags = "".join(
        f'<label><input type="checkbox" class="f-flag" value="{text(name)}"> '
        f"{text(name.replace('_', ' '))}</label>"
        for name in FLAGS
    )
    return (
        _select("f-scenario", "Scenario", scenarios)
        + _select("f-category", "Category", _category_options())
        + _select("f-safety", "Safety verdict", safety)
        + _select("f-thinking", "Thinking verdict", thinking)
        + '<label>Search<input type="search" id="f-search" '
        'placeholder="query, reasoning, answer, rationale, id"></label>'
        + f"<fieldset><legend>Flags</legend>{flags}</fieldset>"
        + '<button type="button" id="f-reset">Reset</button>'
    )


def _thinking_labels() -> list[tuple[str, str]]:
    """Every thinking label the official templates allow (with the scenarios that use it), and
    the verdict given without a judge call."""
    codes: dict[str, list[str]] = {}
    for scenario, spec in THINKING_SPECS.items():
        for label in spec.labels:
            codes.setdefault(label, []).append(scenario.code)
    options = [(f"label:{label}", f"{label} ({', '.join(c)})") for label, c in codes.items()]
    return [*options, (f"label:{NO_REASONING}", "no reasoning (no call)")]


def _category_options() -> list[tuple[str, str]]:
    """Primary categories (``p:``) each followed by its sub-categories (``s:``), indented."""
    options = [("", "All categories")]
    for primary, subs in CATEGORIES.items():
        options.append((f"p:{primary}", primary))
        options.extend((f"s:{sub}", "\u00a0\u00a0\u00a0" + sub) for sub in subs)
    return options


def _select(element_id: str, name: str, options: Sequence[tuple[str, str]]) -> str:
    choices = "".join(f'<option value="{text(v)}">{text(label)}</option>' for v, label in options)
    return f'<label>{text(name)}<select id="{element_id}">{choices}</select></label>'


def _pager() -> str:
    """Buttons the script finds by ``data-page``; the status is filled in on every render."""
    buttons = [
        f'<button type="button" data-page="{key}">{text(label)}</button>'
        for key, label in (("first", "« First"), ("prev", "Previous"), ("next", "Next"),
                           ("last", "Last »"))
    ]  # fmt: skip
    status = '<span class="pager-status"></span>'
    return f'<div class="pager">{"".join(buttons[:2])}{status}{"".join(buttons[2:])}</div>'
