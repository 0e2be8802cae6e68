"""How servers say "the prompt plus the token budget do not fit the model's context".

One table for every provider's classifier. A context overflow fails its sample at once (retrying
the same request cannot help), whereas an unrecognised 400 stops the whole run as a setup error:
a wording missing here turns one long prompt into a stopped run (issue 9, item 8: llama.cpp's
``exceed_context_size_error``). Phrases are matched case-insensitively inside the error message;
codes against the error's ``code`` or ``type``.
"""

from __future__ import annotations

#: Error codes or types that name a context overflow.
CONTEXT_OVERFLOW_CODES = frozenset(
    {
        "context_length_exceeded",  # OpenAI, Groq, DeepSeek
        "exceed_context_size_error",  # llama.cpp server (as its error ``type``)
        "1261",  # Zhipu: "Prompt 超长"
    }
)

#: Message fragments, lower case, with the server whose wording each comes from.
CONTEXT_OVERFLOW_PHRASES = (
    # OpenAI, DeepSeek, Mistral, vLLM: "This model's maximum context length is N tokens. However,
    # you requested M tokens ..."
    "maximum context length",
    "context_length_exceeded",
    # vLLM v1: "The decoder prompt (length N) is longer than the maximum model length of M."
    "longer than the maximum model length",
    # SGLang: "The input (N tokens) is longer than the model's context length (M tokens)."
    "longer than the model's context length",
    # llama.cpp: "request (N tokens) exceeds the available context size (M tokens), try ..."
    "exceeds the available context size",
    "exceed_context_size_error",
    # TGI: "Input validation error: `inputs` tokens + `max_new_tokens` must be <= N. Given: ..."
    "tokens + `max_new_tokens` must be <=",
    "`inputs` must have less than",
    # Ollama: "input length exceeds the context length"; older: "context length exceeded"
    "exceeds the context length",
    "context length exceeded",
    # Anthropic: "prompt is too long: N tokens > M maximum"; "input length and `max_tokens`
    # exceed context limit: ..."
    "prompt is too long",
    "exceed context limit",
    # Gemini: "The input token count (N) exceeds the maximum number of tokens allowed (M)."
    "exceeds the maximum number of tokens allowed",
    # Zhipu: "Prompt 超长"
    "超长",
    "prompt too long",
    # Generic wordings of gateways and smaller servers.
    "context length",
    "context window",
    "context limit",
    "too many tokens",
)


def is_context_overflow(message: str, *codes: object) -> bool:
    """Whether an error with this message and these codes or types is a context overflow."""
    if any(code is not None and str(code) in CONTEXT_OVERFLOW_CODES for code in codes):
        return True
    lowered = message.lower()
    return any(phrase in lowered for phrase in CONTEXT_OVERFLOW_PHRASES)
