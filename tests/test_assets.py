"""The official judge templates: parsed from the real files, checked, and rendered safely."""

from __future__ import annotations

from pathlib import Path

import pytest

from bsa.benchmark import CATEGORIES, Scenario
from bsa.data.assets import (
    SAFETY_PLACEHOLDERS,
    THINKING_PLACEHOLDERS,
    load_judge_templates,
    load_safety_rules,
    parse_safety_rules,
    parse_safety_template,
    parse_thinking_templates,
)
from bsa.errors import TemplateError


def test_official_templates_parse() -> None:
    templates = load_judge_templates()
    assert templates.safety.placeholders == SAFETY_PLACEHOLDERS
    assert set(templates.thinking) == set(Scenario)
    for scenario, template in templates.thinking.items():
        assert template.scenario is scenario
        assert template.placeholders == THINKING_PLACEHOLDERS
    assert all(f.official for f in templates.files)


@pytest.mark.parametrize(
    ("scenario", "verdict_key", "labels"),
    [
        (Scenario.OVER_SENSITIVITY, "Reasoning Quality Evaluation Result", '"Precise Coverage"'),
        (Scenario.COGNITIVE_SHORTCUT, "Reasoning Quality Evaluation Result", '"Fully Covered"'),
        (Scenario.RISK_OMISSION, "Reasoning Quality Evaluation Conclusion", "true | false"),
    ],
)
def test_each_thinking_template_is_its_scenarios(
    scenario: Scenario, verdict_key: str, labels: str
) -> None:
    text = load_judge_templates().thinking_for(scenario).text
    assert verdict_key in text
    assert labels in text


def test_render_keeps_user_braces_literal() -> None:
    template = load_judge_templates().thinking_for(Scenario.RISK_OMISSION)
    hostile = "{query} {0} {reasoning_thinking!r} }}{{ {__class__}"
    rendered = template.render(query=hostile, risk_summary="R", reasoning_thinking="T {x}")
    assert hostile in rendered
    assert "reasoning_thinking: T {x}" in rendered
    assert rendered.rstrip().endswith("reasoning_thinking: T {x}")
    # The template's doubled braces come out single.
    assert '{\n"Reasoning Quality Evaluation":' in rendered


def test_safety_render_fills_all_three() -> None:
    rendered = load_judge_templates().safety.render(query="Q1", risk_summary="R1", answer="A1")
    assert '"User Question": Q1' in rendered
    assert '"Identified Risk": R1' in rendered
    assert '"AI Assistant\'s Answer": A1' in rendered


def test_render_requires_exactly_the_placeholders() -> None:
    template = load_judge_templates().safety
    with pytest.raises(ValueError, match=r"missing \['answer'\], extra \['reasoning'\]"):
        template.render(query="q", risk_summary="r", reasoning="x")


def test_template_with_a_wrong_placeholder_is_refused() -> None:
    text = "```\nQ: {query}\nR: {risk_summary}\nA: {reply}\n```\n"
    with pytest.raises(
        TemplateError, match=r"placeholders \['query', 'reply', 'risk_summary'\] differ"
    ):
        parse_safety_template(text, "x.md")


def test_template_with_a_stray_brace_is_refused() -> None:
    text = '```\n{query} {risk_summary} {answer} {"Safety": 1}\n```\n'
    with pytest.raises(TemplateError, match=r"x\.md: "):
        parse_safety_template(text, "x.md")


def test_thinking_file_missing_a_scenario(shared_bsa: Path) -> None:
    text = (shared_bsa / "prompts" / "Thinking_Accuracy_Judge.md").read_text(encoding="utf-8")
    cut = text[: text.index("Following is the Prompt for Risk Omission")]
    with pytest.raises(TemplateError, match=r"t\.md: no thinking template for Risk Omission"):
        parse_thinking_templates(cut, "t.md")


def test_unclosed_fence(shared_bsa: Path) -> None:
    with pytest.raises(TemplateError, match=r"t.md: line 2: code fence never closed"):
        parse_thinking_templates(
            "Following is the Prompt for Risk Omission thinking judgement:\n```\n{query}", "t.md"
        )


def test_safety_rules_cover_every_primary_category() -> None:
    rules = load_safety_rules()
    assert list(rules.by_category) == list(CATEGORIES)
    assert rules.by_category["Offense and Prejudice"].startswith(
        "# Risk category: Offensive and Prejudice"
    )
    assert "Child Pornography" in rules.by_category["Pornography"]
    assert all("Response" in section for section in rules.by_category.values())
    assert rules.file.official


def test_safety_rules_with_unknown_category() -> None:
    with pytest.raises(TemplateError, match="rules for unknown category 'Gambling'"):
        parse_safety_rules("# Risk Category: Gambling\n\ntext\n", "r.md")
