"""Keep secrets out of a report, even ones that should never have reached the run file.

A report is made to be shared, so it must never carry a key. The run file does not store keys
(settings are recorded without them), but a report is the last line of defence: a setting whose
name says it is a secret is masked, and the values of the environment's secret-looking variables
(``*_API_KEY``, ``*_TOKEN``, ...) are masked wherever they appear, say echoed in an error message.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Mapping
from typing import Any

MASK = "[redacted]"
#: Words that make a setting or an environment variable a secret ("max_tokens" is not one).
SECRET_WORDS = frozenset(
    {"key", "apikey", "secret", "token", "password", "passwd", "credential", "credentials",
     "authorization", "bearer", "cookie"}
)  # fmt: skip
#: Shorter values are too likely to occur by chance in text to be worth masking.
MIN_SECRET_LENGTH = 8

_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def is_secret_name(name: str) -> bool:
    """Whether a setting or variable named ``name`` holds a secret: ``api_key``, ``apiKey``,
    ``OPENAI_API_KEY``, ``auth-token``; not ``max_tokens`` or ``top_k``."""
    words = [word.lower() for word in _WORD.findall(name)]
    joined = {a + b for a, b in itertools.pairwise(words)}
    return bool(SECRET_WORDS.intersection(words) or SECRET_WORDS.intersection(joined))


def environment_secrets(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Values of secret-named environment variables, longest first (so that a key containing
    another is masked whole)."""
    environ = os.environ if environ is None else environ
    values = {v for name, v in environ.items() if is_secret_name(name)}
    return tuple(sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True))


class Redactor:
    """Masks known secret values in text and secret-named fields in settings."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self.secrets = secrets

    @classmethod
    def from_environment(cls) -> Redactor:
        return cls(environment_secrets())

    def text(self, value: str | None) -> str | None:
        if value is None:
            return None
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def settings(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` with secret-named fields and secret values masked."""
        if isinstance(value, Mapping):
            return {
                str(k): MASK if is_secret_name(str(k)) and v else self.settings(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.settings(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value
