"""Anthropic's prompt cache: marking the fixed prefix of a prompt with ``cache_control``.

OpenAI, DeepSeek, Gemini and Zhipu cache a repeated prompt prefix by themselves; Anthropic caches
only up to a block marked ``cache_control: {"type": "ephemeral"}``, and only when what precedes
the mark is at least the model's minimum cacheable length (below it, the mark is ignored and the
prompt billed as usual). The judge's prompts start with the official template's fixed text
(:attr:`bsa.types.Message.cache_prefix` says how long it is), so a judge turn is sent as two text
blocks split at the end of that text, the first marked. A cache read is billed at a tenth of the
input price, a cache write at 1.25 times it (``cache_read_input_tokens`` and
``cache_creation_input_tokens``, both kept in the run file).

The length is estimated at 4 characters a token, fewer tokens than Claude's tokenizer makes of
English text, so a prefix is marked only when it surely reaches the minimum. Minimums, from
Anthropic's prompt caching documentation: 4096 tokens for Claude Opus 4.5 and later and Haiku
4.5, 2048 for Sonnet 4.6 and the Haiku 3 models, 1024 for the others (Sonnet 4.5, 4, 3.7, Opus
4.1, 4). Of the official judge templates, the thinking templates of Cognitive Shortcut (4,476
characters before the first placeholder) and Over Sensitivity (5,107) pass 1024; Risk Omission's
(3,092) and the safety template's (1,561) do not.
"""

from __future__ import annotations

from typing import Any

from bsa.types import Message

#: A conservative estimate: Claude's tokenizer makes more tokens than this of English text.
CHARS_PER_TOKEN = 4
DEFAULT_MIN_TOKENS = 1024
#: Minimum cacheable prompt lengths by model name part, checked in order.
MIN_TOKENS_BY_MODEL = (
    ("opus-4-5", 4096), ("opus-4-6", 4096), ("haiku-4-5", 4096), ("sonnet-4-6", 2048),
    ("haiku-3", 2048), ("3-haiku", 2048), ("3-5-haiku", 2048),
)  # fmt: skip

EPHEMERAL = {"type": "ephemeral"}


def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix ``model`` caches, in tokens."""
    name = model.lower()
    return next((n for part, n in MIN_TOKENS_BY_MODEL if part in name), DEFAULT_MIN_TOKENS)


def cached_turn(message: Message, min_tokens: int) -> dict[str, Any]:
    """``message`` as a Messages API turn: plain, or with its fixed prefix as a first text block
    marked for the cache when that prefix is long enough to be cached."""
    prefix = message.content[: message.cache_prefix]
    if len(prefix) // CHARS_PER_TOKEN < min_tokens or len(prefix) == len(message.content):
        return {"role": message.role, "content": message.content}
    blocks = [
        {"type": "text", "text": prefix, "cache_control": dict(EPHEMERAL)},
        {"type": "text", "text": message.content[len(prefix) :]},
    ]
    return {"role": message.role, "content": blocks}
