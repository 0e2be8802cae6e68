"""Escaping for the HTML report: every model, judge and dataset string is hostile by design.

A safety benchmark collects exactly the text that tries to break things (prompt injections,
markup, scripts), so nothing from a run is ever written into the page unescaped: text and
attribute values go through :func:`text`, and the sample browser's data goes into a JSON block
through :func:`script_json`, which leaves no ``<`` that could close the ``<script>`` element.
"""

from __future__ import annotations

import html
import json
from typing import Any

#: Characters that could end a script element or an HTML comment (``<``, ``>``, ``&``), and the
#: two line separators that older JavaScript engines do not accept inside string literals.
_SCRIPT_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def text(value: object) -> str:
    """``value`` as HTML text, safe in element content and in quoted attribute values (both
    quote kinds are escaped)."""
    return html.escape(str(value), quote=True)


def script_json(value: Any) -> str:
    """``value`` as JSON that can sit inside ``<script type="application/json">`` verbatim.

    The escapes are JSON string escapes, so ``JSON.parse`` of the element's text gives back the
    original strings exactly; outside strings JSON never holds these characters."""
    encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for character, escape in _SCRIPT_ESCAPES:  # str.replace: ~40x faster than str.translate here
        encoded = encoded.replace(character, escape)
    return encoded
