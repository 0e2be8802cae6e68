"""Reasoning extraction, one row per way providers deliver (or fail to deliver) reasoning."""

from __future__ import annotations

from typing import Any

import pytest

from bsa.engine.reasoning import SOURCES, Split, split_reasoning

CASES: list[tuple[str, dict[str, Any], str | None, Split]] = [
    (
        "reasoning_content field (DeepSeek, vLLM)",
        {"content": "\nAnswer.", "reasoning_content": " Think. "},
        "stop",
        Split("Think.", "Answer.", "reasoning_content", False),
    ),
    (
        "reasoning field (OpenRouter, Ollama)",
        {"content": "Answer.", "reasoning": "Think."},
        "stop",
        Split("Think.", "Answer.", "reasoning", False),
    ),
    (
        "reasoning_details blocks; encrypted ones have no text",
        {
            "content": "Answer.",
            "reasoning_details": [
                {"type": "reasoning.text", "text": "Step 1."},
                {"type": "reasoning.encrypted", "data": "xyz"},
                {"type": "reasoning.summary", "summary": "Step 2."},
            ],
        },
        "stop",
        Split("Step 1.\n\nStep 2.", "Answer.", "reasoning_details", False),
    ),
    (
        "think tags in the content",
        {"content": "<think>\nThink.\n</think>\n\nAnswer."},
        "stop",
        Split("Think.", "Answer.", "think_tags", False),
    ),
    (
        "closing tag only: the template opened the think block",
        {"content": "Think.\n</think>\n\nAnswer."},
        "stop",
        Split("Think.", "Answer.", "think_close_only", False),
    ),
    (
        "unterminated think: the budget ran out while thinking",
        {"content": "<think>\nThink, think, thi"},
        "length",
        Split("Think, think, thi", "", "think_unterminated", True),
    ),
    (
        "unterminated think even when the provider says stop",
        {"content": "<think>Think"},
        "stop",
        Split("Think", "", "think_unterminated", True),
    ),
    (
        "no reasoning at all",
        {"content": "Just an answer."},
        "stop",
        Split(None, "Just an answer.", "none", False),
    ),
    (
        "reasoning field with the answer cut by the token limit",
        {"content": "", "reasoning_content": "Long thinking"},
        "length",
        Split("Long thinking", "", "reasoning_content", True),
    ),
    (
        "empty reasoning field falls through to the tags",
        {"content": "<think>T</think>A", "reasoning_content": "  "},
        "stop",
        Split("T", "A", "think_tags", False),
    ),
    (
        "field plus a think block left in the content: both are reasoning",
        {"content": "<think>More.</think>Answer.", "reasoning_content": "Field."},
        "stop",
        Split("Field.\n\nMore.", "Answer.", "reasoning_content", False),
    ),
    (
        "content null (tool-less reply) and no reasoning",
        {"content": None},
        None,
        Split(None, "", "none", False),
    ),
    (
        "tags are matched case-insensitively",
        {"content": "<THINK>T</Think>A"},
        "stop",
        Split("T", "A", "think_tags", False),
    ),
    (
        "a closing tag before an opening one: the prefix is reasoning",
        {"content": "T</think>A <think> stray"},
        "stop",
        Split("T", "A <think> stray", "think_close_only", False),
    ),
    (
        "typed content blocks (Magistral): thinking chunks are reasoning, text the answer",
        {
            "content": [
                {"type": "thinking", "thinking": [{"type": "text", "text": " Think "}]},
                {"type": "text", "text": "Answer."},
            ]
        },
        "stop",
        Split("Think", "Answer.", "thinking_blocks", False),
    ),
    (
        "streamed blocks join piece by piece; a plain thinking string is read too",
        {
            "content": [
                {"type": "thinking", "thinking": "Thi"},
                {"type": "thinking", "thinking": [{"type": "text", "text": "nk."}]},
                {"type": "text", "text": "Ans"},
                {"type": "text", "text": "wer."},
            ]
        },
        "length",
        Split("Think.", "Answer.", "thinking_blocks", True),
    ),
    (
        "text blocks only, with think tags inside",
        {"content": [{"type": "text", "text": "<think>T</think>A"}, {"type": "image_url"}]},
        "stop",
        Split("T", "A", "think_tags", False),
    ),
]


@pytest.mark.parametrize(
    ("message", "finish", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_split_reasoning(message: dict[str, Any], finish: str | None, expected: Split) -> None:
    assert split_reasoning(message, finish) == expected


def test_every_source_is_declared() -> None:
    produced = {case[3].source for case in CASES}
    assert produced <= set(SOURCES)
