"""Split a model's reply into its reasoning trace and its final answer.

BSA grades the two separately (the safety judge reads the answer, the thinking judge the reasoning),
so the split decides the score. Providers deliver reasoning in several places, tried in this order:

0. typed content blocks: a list-shaped ``content`` (Mistral Magistral) whose ``thinking`` blocks are
   the reasoning and whose ``text`` blocks the answer;
1. a ``reasoning_content`` field (DeepSeek, vLLM and SGLang reasoning parsers, Moonshot, DashScope,
   Zhipu's compatible endpoint);
2. a ``reasoning`` field (OpenRouter, Ollama, some vLLM versions);
3. ``reasoning_details`` blocks (OpenRouter's structured form: text and summary blocks);
4. ``<think>…</think>`` inside the content (a model served without a reasoning parser);
5. a closing ``</think>`` with no opening tag: chat templates (Qwen3, DeepSeek-R1 distills) put the
   opening tag in the prompt, so the reply starts inside the think block and all before the tag is
   reasoning;
6. an opening ``<think>`` that never closes: the token budget ran out while thinking, so there is no
   answer at all; the reasoning is kept and the sample is flagged ``truncated``.

Anything else has no reasoning (source ``none``), which the thinking judge scores without a call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"
_OPEN = re.compile(r"<think>", re.IGNORECASE)
_CLOSE = re.compile(r"</think>", re.IGNORECASE)

#: Values of :attr:`Split.source`, as stored in the run file.
SOURCES = (
    "reasoning_content",
    "reasoning",
    "reasoning_details",
    "think_tags",
    "think_close_only",
    "think_unterminated",
    "thinking_blocks",
    "thought_summary",
    "none",
)


#: Block types whose text is reasoning in list-shaped content.
THINKING_BLOCKS = frozenset({"thinking", "reasoning"})


@dataclass(frozen=True)
class Split:
    """A reply taken apart: ``reasoning`` is None when the reply had none."""

    reasoning: str | None
    answer: str
    source: str
    truncated: bool


def split_reasoning(message: Mapping[str, Any], finish_reason: str | None = None) -> Split:
    """Split an OpenAI-style ``message`` dict (content plus any reasoning fields).

    ``truncated`` is set when the reply was cut by the token limit (``finish_reason`` "length"), or
    when the think block never closed, since then the answer is missing or incomplete.
    """
    cut = finish_reason == "length"
    if isinstance(message.get("content"), list):
        return _split_blocks(message["content"], cut)
    content = _text(message.get("content"))
    for field in ("reasoning_content", "reasoning"):
        value = _text(message.get(field))
        if value.strip():
            split = split_content(content, cut)
            reasoning = _join(value, split.reasoning)
            return Split(reasoning, split.answer, field, split.truncated)
    details = _details_text(message.get("reasoning_details"))
    if details:
        split = split_content(content, cut)
        return Split(
            _join(details, split.reasoning), split.answer, "reasoning_details", split.truncated
        )
    return split_content(content, cut)


def split_content(content: str, cut: bool = False) -> Split:
    """Split reasoning written into the content itself with think tags (rules 4 to 6 above)."""
    close = _CLOSE.search(content)
    opening = _OPEN.search(content)
    if close and opening and opening.start() < close.start():
        reasoning = content[opening.end() : close.start()]
        answer = content[: opening.start()] + content[close.end() :]
        return Split(reasoning.strip(), answer.strip(), "think_tags", cut)
    if close:
        reasoning, answer = content[: close.start()], content[close.end() :]
        return Split(reasoning.strip(), answer.strip(), "think_close_only", cut)
    if opening:
        before, reasoning = content[: opening.start()], content[opening.end() :]
        return Split(reasoning.strip(), before.strip(), "think_unterminated", True)
    return Split(None, content.strip(), "none", cut)


def _split_blocks(blocks: list[Any], cut: bool) -> Split:
    """Split list-shaped content. A stream delivers a block in many pieces, so pieces join as
    they are; the text may still hold think tags of its own."""
    thinking = "".join(_block_text(b, "thinking") for b in blocks if _kind(b) in THINKING_BLOCKS)
    split = split_content(
        "".join(_block_text(b, "text") for b in blocks if _kind(b) == "text"), cut
    )
    if not thinking.strip():
        return split
    return Split(_join(thinking, split.reasoning), split.answer, "thinking_blocks", split.truncated)


def _kind(block: object) -> object:
    return block.get("type") if isinstance(block, Mapping) else None


def _block_text(block: Mapping[str, Any], field: str) -> str:
    """A block's text: a string, or (Magistral's thinking) a list of text chunks."""
    value = block.get(field, block.get("text"))
    if isinstance(value, list):
        return "".join(_text(part.get("text")) for part in value if isinstance(part, Mapping))
    return _text(value)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _join(first: str, second: str | None) -> str:
    """Reasoning from a field, plus any think block also left in the content."""
    parts = [part.strip() for part in (first, second) if part and part.strip()]
    return "\n\n".join(parts)


def _details_text(details: object) -> str:
    """The readable text of OpenRouter ``reasoning_details``; encrypted blocks have none."""
    if not isinstance(details, list):
        return ""
    texts = []
    for block in details:
        if isinstance(block, Mapping):
            text = block.get("text") or block.get("summary")
            if isinstance(text, str) and text.strip():
                texts.append(text.strip())
    return "\n\n".join(texts)
