"""Keep API keys out of everything bsa writes or prints.

Keys reach text in ways bsa does not control: a provider echoes the key in a 400/429/500 body or
even in a completion, an SDK puts the request headers in an exception, a user puts a token in
``--extra-body`` or in a URL. So instead of trusting every path to leave keys out, every boundary
where text leaves the process (run file rows and settings, exports, the report, printed lines,
``--debug`` tracebacks) passes it through :func:`redact`.

:func:`redact` masks two things: the exact values registered here (every key the CLI or the API
loads for the model and the judge, credentials found in URLs and secret-named ``--extra-body``
fields), and the usual shapes of keys that bsa never saw (``Bearer …`` tokens, ``sk-…`` keys,
``api_key=…``). It runs on every stored row, so it is one compiled regex whose search is the whole
cost when nothing matches.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MASK = "[redacted]"
#: Shorter values are too likely to occur by chance in text to be worth masking (and are not keys:
#: vLLM's placeholder "EMPTY" is one).
MIN_SECRET_LENGTH = 8
#: Words that make a setting, a field or an environment variable a secret ("max_tokens" is not).
SECRET_WORDS = frozenset(
    {"key", "apikey", "secret", "token", "password", "passwd", "credential", "credentials",
     "authorization", "bearer", "cookie"}
)  # fmt: skip

#: Key shapes masked even when bsa never saw the key. Each keeps its label (group 1 or 2) and masks
#: only the value, so a reader still sees that a token was there. Narrow on purpose: model text
#: is stored through this too, and ordinary prose ("risk-averse", "the token budget") must pass.
_PATTERNS = (
    r"((?i:\bbearer)\s+)[A-Za-z0-9._~+/-]{8,}=*",
    r"((?i:\b(?:x-)?api[_-]?key|\baccess[_-]?token)[\"']?\s*[:=]\s*[\"']?)[^\s\"'\\&,;)}\]]{8,}",
    r"sk-(?<![A-Za-z0-9_]sk-)[A-Za-z0-9_-]{16,}",
)
#: Lower-case fragments one of which every key shape but ``sk-`` holds: ``in`` finds them at
#: memory speed, where the combined regex costs about 150 ns a character on text without keys.
#: The stems are scanned first: three scans instead of seven on text that holds none of them.
_TRIGGER_STEMS = ("bearer", "api", "access")
_TRIGGERS = (
    "bearer",
    "api_key",
    "api-key",
    "apikey",
    "access_token",
    "access-token",
    "accesstoken",
)
#: The ``sk-`` shape alone: it starts with a literal, which the regex engine scans for quickly.
_SK_KEY = re.compile(_PATTERNS[-1])
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_pattern = re.compile("|".join(_PATTERNS))


def is_secret_name(name: str) -> bool:
    """Whether a setting or variable named ``name`` holds a secret: ``api_key``, ``apiKey``,
    ``OPENAI_API_KEY``, ``auth-token``; not ``max_tokens`` or ``top_k``."""
    words = [word.lower() for word in _WORD.findall(name)]
    joined = {a + b for a, b in itertools.pairwise(words)}
    return bool(SECRET_WORDS.intersection(words) or SECRET_WORDS.intersection(joined))


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears from now on (values too short to be keys are ignored)."""
    global _secrets, _pattern
    value = (value or "").strip()
    if len(value) < MIN_SECRET_LENGTH or value in _secrets:
        return
    with _lock:
        _secrets = _secrets | {value}
        # Longest first, so that a key containing another is masked whole.
        literals = [re.escape(s) for s in sorted(_secrets, key=len, reverse=True)]
        _pattern = re.compile("|".join([*literals, *_PATTERNS]))


def register_url_secrets(url: str | None) -> None:
    """Register the credentials a URL carries: the userinfo's password (or its user name when it
    has none: ``https://TOKEN@host``) and secret-named query values."""
    if not url:
        return
    parts = urlsplit(url)
    register_secret(parts.password or parts.username)
    for name, value in parse_qsl(parts.query):
        if is_secret_name(name):
            register_secret(value)


def register_field_secrets(value: Any) -> None:
    """Register the strings under secret-named keys of a JSON-like value (``--extra-body``)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, str) and is_secret_name(str(key)):
                register_secret(item)
            else:
                register_field_secrets(item)
    elif isinstance(value, list):
        for item in value:
            register_field_secrets(item)


def register_environment_secrets(environ: Mapping[str, str] | None = None) -> None:
    """Register the values of secret-named environment variables (``*_API_KEY``, ``*_TOKEN``…):
    for shareable outputs of a run file written by a process whose keys this one never loaded."""
    for name, value in (os.environ if environ is None else environ).items():
        if is_secret_name(name):
            register_secret(value)


def _mask(match: re.Match[str]) -> str:
    return (match.group(1) or match.group(2) or "") + MASK


def redact(text: str) -> str:
    """``text`` with every registered secret and key-shaped token masked; the same object when
    there is nothing to mask (the common case, and the cheap one)."""
    if not _may_hold_secret(text):
        return text
    return _pattern.sub(_mask, text)


def _may_hold_secret(text: str) -> bool:
    """A cheap test that is true whenever :func:`redact` has something to mask."""
    if any(secret in text for secret in _secrets) or _SK_KEY.search(text):
        return True
    lowered = text.lower()
    if not any(stem in lowered for stem in _TRIGGER_STEMS):
        return False
    return any(trigger in lowered for trigger in _TRIGGERS)


def redact_json(value: Any) -> Any:
    """A copy of JSON-like ``value`` with secret-named string fields masked and every string
    redacted; settings go through this before they are stored or shown."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            str(k): MASK if isinstance(v, str) and v and is_secret_name(str(k)) else redact_json(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_json(v) for v in value]
    return value


def registered_count() -> int:
    """How many secret values are registered (for tests and diagnostics, never the values)."""
    return len(_secrets)


def forget_secrets() -> None:
    """Empty the registry: a test that checks what a fresh process would write starts here."""
    global _secrets, _pattern
    with _lock:
        _secrets = frozenset()
        _pattern = re.compile("|".join(_PATTERNS))
