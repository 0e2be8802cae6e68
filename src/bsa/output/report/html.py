"""The HTML toolkit of every page bsa writes (the run report and the comparison page):
escaping, the Content-Security-Policy, numbers, and the document shell.

Every model, judge and dataset string is hostile by design: a safety benchmark collects exactly
the text that tries to break things (prompt injections, markup, scripts). So nothing from a run is
ever written into a page unescaped: text and attribute values go through :func:`text`, and data
for a page's script goes into a data block through :func:`packed_json`, whose base64 holds no
``<`` that could close the ``<script>`` element. And each page carries a policy that lets nothing run or load
but its own inline style and script, named by hash (:func:`document`), so even text that escaped
escaping could not act.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

#: How a page shows a figure that cannot be computed.
MISSING = "\N{EM DASH}"


def text(value: object) -> str:
    """``value`` as HTML text, safe in element content and in quoted attribute values (both
    quote kinds are escaped)."""
    return html.escape(str(value), quote=True)


def packed_json(value: Any) -> str:
    """``value`` as gzip-compressed JSON in base64, for a page's script to unpack with
    ``DecompressionStream``: a run's samples are mostly prose, which gzip shrinks about 3x,
    and base64 (ASCII with no ``<``) sits inside a ``<script>`` data block as it is.

    A lone surrogate cannot be UTF-8; it only ever occurs inside a JSON string, so it is written
    as its JSON escape (``\\udXXX``) and ``JSON.parse`` gives it back exactly."""
    encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    raw = encoded.encode("utf-8", "backslashreplace")
    # Level 6 packs prose within 1% of level 9 in 80% of the time; mtime 0: the same run gives
    # the same bytes.
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def unpacked_blocks(page: str, then: Callable[[str, str], str] | None = None) -> str:
    """``page`` with each packed data block unpacked to JSON text (a block may hold several
    packed values, comma-separated), each value passed through ``then(block id, JSON text)``
    when given: reading a report as text (:func:`bsa.output.report.payload.readable`)."""

    def unpack(match: re.Match[str]) -> str:
        values = (_unpack(packed) for packed in match["packed"].split(",") if packed)
        if then is not None:
            values = (then(match["id"], value) for value in values)
        return match["tag"] + ",".join(values)

    return _PACKED.sub(unpack, page)


def packed_block(page: str, block_id: str) -> Any:
    """The value packed in ``page``'s data block ``block_id`` (one packed value)."""
    (block,) = [m["packed"] for m in _PACKED.finditer(page) if m["id"] == block_id]
    return json.loads(_unpack(block))


def _unpack(packed: str) -> str:
    return gzip.decompress(base64.b64decode(packed)).decode("utf-8")


#: The data blocks :func:`document` writes; base64 cannot hold the ``<`` that ends them.
_PACKED = re.compile(
    r'(?P<tag><script type="application/gzip" id="(?P<id>bsa-[a-z]+)">)(?P<packed>[^<]*)(?=</script>)'
)


def pct(value: float | None) -> str:
    """A percentage to the hundredth, as the published leaderboard prints them."""
    return MISSING if value is None else f"{value:.2f}"


def signed(value: float | None) -> str:
    """A difference in percentage points, with its sign."""
    return MISSING if value is None else f"{value:+.2f}"


def csp_hash(source: str) -> str:
    """The CSP source expression that allows exactly this inline element content."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def content_security_policy(style: str, script: str | None = None) -> str:
    """Nothing may load or run but the page's own stylesheet and script (none when ``script`` is
    None); Trusted Types make any HTML string assignment in the script throw."""
    scripts = f"script-src {csp_hash(script)}; " if script is not None else ""
    return (
        f"default-src 'none'; {scripts}style-src {csp_hash(style)}; "
        "base-uri 'none'; form-action 'none'; "
        "require-trusted-types-for 'script'; trusted-types 'none'"
    )


def document(
    title: str,
    body: str,
    style: str,
    *,
    script: str | None = None,
    data: Mapping[str, str] | None = None,
) -> str:
    """A whole self-contained page: ``body`` (already escaped), its inline ``style``, and
    optionally its inline ``script`` with the ``data`` blocks it reads (``id="bsa-NAME"`` for
    each name, holding what :func:`packed_json` gives)."""
    policy = content_security_policy(style, script)
    tail = "".join(
        f'<script type="application/gzip" id="bsa-{name}">{packed}</script>\n'
        for name, packed in (data or {}).items()
    )
    if script is not None:
        tail += f"<script>{script}</script>\n"
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{text(policy)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{text(title)}</title>\n"
        f"<style>{style}</style>\n</head>\n<body>\n{body}\n{tail}</body></html>\n"
    )
