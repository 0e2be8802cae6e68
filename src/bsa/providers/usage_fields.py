"""Reading token counts out of a vendor's ``usage`` object, one rule for every provider.

Cached input tokens are billed apart (at a fraction of the input price), so every provider that
reports them keeps them: OpenAI-style ``prompt_tokens_details.cached_tokens`` (chat completions,
Zhipu), ``input_tokens_details.cached_tokens`` (the Responses API), Anthropic's
``cache_read_input_tokens`` and Gemini's ``cachedContentTokenCount``. A count is an integer that
is not a bool; anything else (a vendor's null, a string) reads as "not reported".
"""

from __future__ import annotations

from collections.abc import Mapping


def token_count(value: object) -> int | None:
    """``value`` if it is a token count, else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def detail_count(usage: Mapping[str, object], details: str, key: str) -> int | None:
    """``usage[details][key]`` as a count (``prompt_tokens_details.cached_tokens``), None when
    either level is missing."""
    inner = usage.get(details)
    return token_count(inner.get(key)) if isinstance(inner, Mapping) else None
