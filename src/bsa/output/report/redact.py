"""Keep secrets out of a report, even ones that should never have reached the run file.

A report is made to be shared, so it must never carry a key. New run files hold none (every row is
redacted as it is stored, see :mod:`bsa.redaction`), but a report is the last line of defence for
files written elsewhere or by an older bsa: it masks the keys this process knows, key-shaped
tokens, settings whose name says they are secrets, and the values of the environment's
secret-looking variables (``*_API_KEY``, ``*_TOKEN``, ...) wherever they appear.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from bsa.redaction import (
    MASK,
    MIN_SECRET_LENGTH,
    is_secret_name,
    redact,
    redact_json,
    register_environment_secrets,
    register_secret,
)


def environment_secrets(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Values of secret-named environment variables, longest first."""
    environ = os.environ if environ is None else environ
    values = {v for name, v in environ.items() if is_secret_name(name)}
    return tuple(sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True))


class Redactor:
    """Masks secrets in report text and settings, through the process-wide registry."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        for secret in secrets:
            register_secret(secret)

    @classmethod
    def from_environment(cls) -> Redactor:
        register_environment_secrets()
        return cls(())

    def text(self, value: str | None) -> str | None:
        return None if value is None else redact(value)

    def settings(self, value: Any) -> Any:
        """A copy of JSON-like ``value`` with secret-named fields and secret values masked."""
        return redact_json(value)


__all__ = ["MASK", "Redactor", "environment_secrets", "is_secret_name"]
