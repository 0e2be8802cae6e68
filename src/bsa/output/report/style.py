"""The report's stylesheet: one inline ``<style>``, allowed by its hash, no web fonts.

System fonts only, so the file renders the same offline; colours match the plots (:mod:`svg`).
"""

from __future__ import annotations

STYLESHEET = """
:root { --ink: #1f2933; --muted: #6b7785; --line: #e3e7eb; --soft: #f6f8fa; --accent: #0072b2;
  --pass: #1b7f4b; --fail: #b3261e; --warn: #8a5a00; color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #fff; }
header.page, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header.page { padding-top: 24px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 1.3rem; margin: 40px 0 12px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 24px 0 8px; }
h4 { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted);
  margin: 10px 0 4px; }
nav.toc { position: sticky; top: 0; z-index: 2; background: rgba(255, 255, 255, .95);
  border-bottom: 1px solid var(--line); }
nav.toc ul { max-width: 1180px; margin: 0 auto; padding: 8px 24px; list-style: none; display: flex;
  flex-wrap: wrap; gap: 4px 18px; }
nav.toc a { color: var(--accent); text-decoration: none; font-size: .9rem; }
.subtitle, .note, .caption { color: var(--muted); }
.note, .caption { font-size: .88rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: var(--soft); }
.card .name { font-size: .85rem; color: var(--muted); }
.card .value { font-size: 1.8rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .ci { font-size: .82rem; color: var(--muted); font-variant-numeric: tabular-nums; }
.plots { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
svg.plot { max-width: 100%; height: auto; }
.heat-cell { cursor: pointer; }
.heat-cell:hover, .heat-cell:focus { stroke: var(--ink); stroke-width: 2; outline: none; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: .9rem; }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; background: var(--soft); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.run td { font-weight: 700; background: #fff1e6; }
td.value { overflow-wrap: anywhere; white-space: pre-wrap; max-width: 720px; }
.filters { display: flex; flex-wrap: wrap; gap: 10px 16px; align-items: end; padding: 12px;
  background: var(--soft); border: 1px solid var(--line); border-radius: 8px; }
.filters label { display: flex; flex-direction: column; font-size: .8rem; color: var(--muted); }
.filters select, .filters input[type=search] { font: inherit; font-size: .9rem; padding: 4px 6px;
  min-width: 150px; max-width: 280px; }
.filters input[type=search] { min-width: 260px; }
.filters fieldset { border: 0; margin: 0; padding: 0; display: flex; gap: 10px; align-items: center;
  font-size: .85rem; }
.filters fieldset label { flex-direction: row; gap: 4px; color: var(--ink); align-items: center; }
.filters legend { float: left; color: var(--muted); font-size: .8rem; margin-right: 4px; }
button { font: inherit; font-size: .9rem; padding: 4px 10px; border: 1px solid #c5ccd3;
  border-radius: 6px; background: #fff; cursor: pointer; }
button:disabled { opacity: .45; cursor: default; }
.pager { display: flex; gap: 8px; align-items: center; margin: 12px 0; flex-wrap: wrap; }
.pager-status { font-size: .9rem; color: var(--muted); margin: 0 8px; }
main > section { scroll-margin-top: 48px; }
.sample { border: 1px solid var(--line); border-radius: 8px; margin: 12px 0; padding: 10px 14px 6px;
  display: grid; grid-template-columns: 1fr 1fr; column-gap: 16px; }
.sample > * { min-width: 0; }
.sample-head, .field.reasoning, .field.answer, .field.error, .sample .info { grid-column: 1 / -1; }
@media (max-width: 760px) { .sample { grid-template-columns: 1fr; } }
.sample-head { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
.sample-id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .8rem;
  color: var(--muted); margin-right: 6px; overflow-wrap: anywhere; }
.tag, .badge { font-size: .75rem; padding: 1px 8px; border-radius: 999px; border: 1px solid var(--line);
  background: var(--soft); white-space: nowrap; }
.badge.pass { background: #e6f4ec; border-color: #b7e0c7; color: var(--pass); }
.badge.fail { background: #fdecea; border-color: #f4c2bd; color: var(--fail); }
.badge.unscored, .badge.missing, .badge.flag { background: #fff4db; border-color: #f1d8a0;
  color: var(--warn); }
.text { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--soft);
  border-radius: 6px; padding: 6px 10px; font-size: .9rem; max-height: 24em; overflow: auto; }
.field.reasoning .text { max-height: 18em; }
.empty { color: var(--muted); font-style: italic; margin: 4px 0; }
.verdict-line { display: flex; gap: 10px; align-items: center; margin: 2px 0 6px; }
.reason { font-size: .85rem; color: var(--warn); overflow-wrap: anywhere; }
.info { font-size: .8rem; color: var(--muted); margin: 8px 0 4px; }
details.raw summary { cursor: pointer; font-size: .85rem; color: var(--muted); }
footer { margin-top: 48px; padding-bottom: 32px; font-size: .82rem; color: var(--muted); }
"""
