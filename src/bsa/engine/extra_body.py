"""What ``--extra-body`` may add to a request, and what it may not take over.

Extra fields are merged into the request body last, so a field that bsa itself sets would be
replaced in every request while the run file says otherwise: ``messages`` swaps the benchmark
query, ``model`` the model under test, ``n`` and ``stream`` the shape of the reply bsa parses.
Those fields, and those another flag owns, are refused with the flag to use instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bsa.errors import BsaError
from bsa.redaction import register_field_secrets

#: Fields bsa builds from the prompt and the run itself; nothing may replace them.
CORE_FIELDS: Mapping[str, str] = {
    "messages": "the benchmark prompt (use --system-prompt or --safety-rules to add to it)",
    "model": "the model under test (use --model)",
    "n": "the samples per request (use -k and --use-n)",
    "stream": "the response format (use --stream)",
    "stream_options": "the response format (use --stream)",
}
#: Fields a flag sets: a second value here would override the flag while the run's recorded
#: decoding shows the flag's value, and which one wins would depend on the provider.
FLAG_FIELDS: Mapping[str, str] = {
    "temperature": "--temperature",
    "top_p": "--top-p",
    "top_k": "--top-k",
    "max_tokens": "--max-tokens",
    "seed": "--request-seed",
    "reasoning_effort": "--reasoning-effort",
}


def checked_extra_body(extra_body: Mapping[str, Any]) -> dict[str, Any]:
    """``extra_body`` as a plain dict, after refusing the fields bsa or a flag owns; the values
    of its secret-named fields (``api_key``, ``token``…) are registered to be masked everywhere."""
    for name in extra_body:
        if name in CORE_FIELDS:
            raise BsaError(f"--extra-body must not set {name!r}: bsa sets {CORE_FIELDS[name]}")
        if name in FLAG_FIELDS:
            raise BsaError(f"--extra-body must not set {name!r}: use {FLAG_FIELDS[name]}")
    register_field_secrets(extra_body)
    return dict(extra_body)
