"""The official judge prompts and safety rules, parsed into templates that render safely.

Upstream ships the prompts as Markdown that nothing runs (Prompt/*.md at the pinned commit): one
fenced template in ``Safe_Ans_Judge.md``, and three in ``Thinking_Accuracy_Judge.md``, each after a
line ``Following is the Prompt for <Scenario> thinking judgement:``. The templates use Python
``str.format`` syntax (literal braces doubled), so they render with ``str.format``: substituted values
are never parsed again, and braces in a model's answer or reasoning are safe.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bsa.benchmark import BSA_V1, CATEGORIES, Scenario
from bsa.data import sources
from bsa.errors import TemplateError
from bsa.judging.verdicts import example_objects

SAFETY_PLACEHOLDERS = frozenset({"query", "risk_summary", "answer"})
THINKING_PLACEHOLDERS = frozenset({"query", "risk_summary", "reasoning_thinking"})

_THINKING_HEADER = re.compile(r"^Following is the Prompt for (.+?) thinking judgement:\s*$")
_FENCE = re.compile(r"^\s*```")


@dataclass(frozen=True)
class JudgeTemplate:
    """One judge prompt: ``safety`` (grades the final answer) or ``thinking`` (grades the
    reasoning of one scenario's items)."""

    kind: str
    scenario: Scenario | None
    text: str
    placeholders: frozenset[str]

    def render(self, **values: str) -> str:
        """The prompt with ``values`` substituted; every placeholder must be given, no other."""
        given = frozenset(values)
        if given != self.placeholders:
            missing = sorted(self.placeholders - given)
            extra = sorted(given - self.placeholders)
            raise ValueError(
                f"render needs {sorted(self.placeholders)}: missing {missing}, extra {extra}"
            )
        return self.text.format(**values)

    @functools.cached_property
    def examples(self) -> frozenset[str]:
        """The verdict objects the template itself shows (its output format and its correct and
        incorrect evaluation examples), as they appear in every rendered prompt: a judge that
        copies one back has given no verdict of its own (:mod:`bsa.judging.verdicts`, rule 5)."""
        blank = self.text.format(**dict.fromkeys(self.placeholders, ""))
        return frozenset(example_objects(blank, self.scenario))


@dataclass(frozen=True)
class JudgeTemplates:
    """The four official judge templates, with the files they were read from."""

    safety: JudgeTemplate
    thinking: Mapping[Scenario, JudgeTemplate]
    files: tuple[sources.ResolvedFile, ...]

    def thinking_for(self, scenario: Scenario) -> JudgeTemplate:
        return self.thinking[scenario]


@dataclass(frozen=True)
class SafetyRules:
    """``Safe_Rules.md``: per primary category, its risk facts and response strategy. The paper's
    "with safety rules" condition puts this text into the prompt of the model under test."""

    text: str
    by_category: Mapping[str, str]
    file: sources.ResolvedFile


def load_judge_templates() -> JudgeTemplates:
    """Resolve, read and parse the two official judge prompt files."""
    safety_file = sources.resolve(sources.SAFE_ANSWER_JUDGE)
    thinking_file = sources.resolve(sources.THINKING_JUDGE)
    return JudgeTemplates(
        safety=parse_safety_template(_read(safety_file.path), safety_file.path),
        thinking=parse_thinking_templates(_read(thinking_file.path), thinking_file.path),
        files=(safety_file, thinking_file),
    )


def load_safety_rules() -> SafetyRules:
    rules_file = sources.resolve(sources.SAFETY_RULES)
    text = _read(rules_file.path)
    return SafetyRules(text.strip(), parse_safety_rules(text, rules_file.path), rules_file)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TemplateError(f"{path}: cannot read as UTF-8 text ({error})") from error


def parse_safety_template(text: str, where: Path | str) -> JudgeTemplate:
    blocks = _fenced_blocks(text.splitlines(), where)
    if len(blocks) != 1:
        raise TemplateError(f"{where}: expected one fenced template, found {len(blocks)}")
    body = blocks[0][1]
    return JudgeTemplate(
        "safety", None, body, _check_placeholders(body, SAFETY_PLACEHOLDERS, where)
    )


def parse_thinking_templates(text: str, where: Path | str) -> dict[Scenario, JudgeTemplate]:
    templates: dict[Scenario, JudgeTemplate] = {}
    lines = text.splitlines()
    for start, body in _fenced_blocks(lines, where):
        header = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        match = _THINKING_HEADER.match(header.strip())
        if not match:
            raise TemplateError(
                f"{where}: line {start + 1}: template without a 'Following is the "
                "Prompt for <Scenario> thinking judgement:' line before it"
            )
        scenario = _scenario(match.group(1), where)
        if scenario in templates:
            raise TemplateError(f"{where}: two templates for {scenario.value}")
        where_block = f"{where} ({scenario.value})"
        placeholders = _check_placeholders(body, THINKING_PLACEHOLDERS, where_block)
        templates[scenario] = JudgeTemplate("thinking", scenario, body, placeholders)
    missing = [s.value for s in BSA_V1.scenarios if s not in templates]
    if missing:
        raise TemplateError(f"{where}: no thinking template for {', '.join(missing)}")
    return templates


def _scenario(name: str, where: Path | str) -> Scenario:
    try:
        return Scenario.parse(name)
    except ValueError as error:
        raise TemplateError(f"{where}: {error}") from error


def _fenced_blocks(lines: list[str], where: Path | str) -> list[tuple[int, str]]:
    """(index of the opening fence line, body) for each ``` fenced block."""
    blocks: list[tuple[int, str]] = []
    opening: int | None = None
    for index, line in enumerate(lines):
        if not _FENCE.match(line):
            continue
        if opening is None:
            opening = index
        else:
            blocks.append((opening, "\n".join(lines[opening + 1 : index])))
            opening = None
    if opening is not None:
        raise TemplateError(f"{where}: line {opening + 1}: code fence never closed")
    return blocks


def _check_placeholders(body: str, expected: frozenset[str], where: Path | str) -> frozenset[str]:
    """The template must name exactly ``expected``, as plain ``{name}`` fields."""
    found: set[str] = set()
    try:
        for _, field, spec, conversion in string.Formatter().parse(body):
            if field is None:
                continue
            if not field.isidentifier() or spec or conversion:
                raise TemplateError(f"{where}: unsupported placeholder {{{field}}}")
            found.add(field)
    except ValueError as error:
        raise TemplateError(f"{where}: not a str.format template ({error})") from error
    if found != expected:
        raise TemplateError(
            f"{where}: placeholders {sorted(found)} differ from the expected {sorted(expected)}"
        )
    return expected


#: Headings of Safe_Rules.md that do not spell the dataset's primary category name.
_RULE_HEADING_ALIASES = {
    "Offensive and Prejudice": "Offense and Prejudice",
    "Child Pornography": "Pornography",
}
_RULE_HEADING = re.compile(r"^#\s*Risk category:\s*(.+?)\s*$", re.IGNORECASE)


def parse_safety_rules(text: str, where: Path | str) -> dict[str, str]:
    """Split the rules into one section per primary category (heading ``# Risk category: X``)."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = _RULE_HEADING.match(line)
        if match:
            name = _RULE_HEADING_ALIASES.get(match.group(1), match.group(1))
            if name not in CATEGORIES:
                raise TemplateError(f"{where}: rules for unknown category {match.group(1)!r}")
            current = sections.setdefault(name, [])
        if current is not None:
            current.append(line)
    missing = [name for name in CATEGORIES if name not in sections]
    if missing:
        raise TemplateError(f"{where}: no rules for {', '.join(missing)}")
    return {name: "\n".join(sections[name]).strip() for name in CATEGORIES}
