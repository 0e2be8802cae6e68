"""Print untrusted text on a terminal as text, never as terminal commands.

Model output, judge replies, provider error messages, dataset fields and whatever a run file from
elsewhere holds are hostile input. Printed raw, an ESC sequence clears the screen, retitles the
window or plants an OSC-8 link, a bidi override reorders what the reader sees, and an embedded
newline forges a line of its own (``error: …``). :func:`printable` writes every such character as
visible ``\\x1b`` / ``\\u202e`` text; :func:`safe_line` also masks secrets, for any line that
carries text bsa did not write itself.
"""

from __future__ import annotations

import json
import math
import re
import traceback
from typing import Any

from rich.text import Text

from bsa.redaction import redact

#: C0 controls (newline and tab included: one printed line stays one line), DEL, C1 controls,
#: the bidi embeddings, overrides, isolates and marks, and the Unicode line/paragraph separators.
_BEYOND_C0 = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f{_BEYOND_C0}]")
#: What ``json.dumps`` leaves raw inside strings (it escapes C0 itself; its own newlines are layout).
_UNSAFE_IN_JSON = re.compile(f"[{_BEYOND_C0}]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def printable(text: object) -> str:
    """``text`` with every control, bidi and line-separator character written as an escape."""
    value = str(text)
    if _UNSAFE.search(value) is None:
        return value
    return _UNSAFE.sub(_visible, value)


def safe_line(text: object) -> str:
    """Untrusted text for one printed line: secrets masked, controls escaped."""
    return printable(redact(str(text)))


def terminal_json(value: Any, *, indent: int | None = 2) -> str:
    """JSON for stdout that a terminal cannot act on: ``json.dumps`` escapes C0 controls but, with
    ``ensure_ascii=False``, leaves C1 controls and bidi overrides raw; those become ``\\uXXXX``
    escapes, so the text still parses to the same value.

    It is strict JSON too: a figure that does not exist (a scenario with no items gives 0/0 in
    the reference arithmetic) is ``null``, never ``NaN``, which ``JSON.parse`` and other strict
    parsers refuse."""
    text = json.dumps(finite_or_null(value), indent=indent, ensure_ascii=False, allow_nan=False)
    return _UNSAFE_IN_JSON.sub(_json_escape, redact(text))


def finite_or_null(value: Any) -> Any:
    """``value`` with every NaN or infinite float (numpy's included) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(item) for item in value]
    return value


def safe_traceback(error: BaseException) -> list[str]:
    """The traceback ``--debug`` prints, chained exceptions included, one safe line per line.

    Frame lines (file, line, code) are bsa's and library code; each exception's message is not
    (an SDK's message holds the provider's body, echoed keys and all), so it is redacted and
    kept on one line, where Python's own traceback would print its newlines raw.
    """
    lines: list[str] = []
    for position, exception in enumerate(_chain(error)):
        if position:
            lines += ["", "The above exception led to the following:", ""]
        lines.append("Traceback (most recent call last):")
        for frame in traceback.format_tb(exception.__traceback__):
            lines += frame.rstrip("\n").split("\n")
        kind = type(exception)
        lines.append(f"{kind.__module__}.{kind.__qualname__}: {exception}")
    return [safe_line(line) for line in lines]


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and the exceptions it was raised from or during, oldest first."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        if current.__cause__ is not None:
            current = current.__cause__
        else:
            current = None if current.__suppress_context__ else current.__context__
    return chain[::-1]


def rich_text(value: object) -> Text:
    """A rich table cell or title from untrusted text: escaped as :func:`safe_line` does, and a
    ``Text`` so that ``[link=…]`` in a model or category name is not read as rich markup."""
    return Text(safe_line(value))
