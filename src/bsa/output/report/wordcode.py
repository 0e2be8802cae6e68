"""Word coding: the report's sample texts with their frequent words replaced by one character each,
so that deflate, the only decompressor a browser offers a page (``DecompressionStream``: gzip and
deflate, no brotli nor zstd), packs them a fifth smaller.

Why it helps: deflate codes a repeated word as a back-reference (a length and a distance, two to
three bytes) only when the word recurs within its 32 KB window, and otherwise letter by letter.
A reasoning trace is prose: a few thousand words make up most of it, and each of them now costs
one private-use character, whose bytes deflate's Huffman stage then shortens. Measured on the
10,000-sample report of ``benchmarks/report_size.py`` (80 MB of reasoning built from the dataset's
own sentences): the report went from 36.3 MB to 29.7 MB with the short codes alone, and to
28.7 MB with the long ones too.

The scheme, lossless for any text: the dictionary is the report's own most frequent ASCII words
of four letters or more (at most :data:`CAPACITY`, kept if seen twice), word ``n`` is a
private-use character, and a private-use character that was in the text itself is written after
:data:`ESCAPE` (U+E000). The first :data:`SHORT_CODES` words, the most valuable, get the Basic
Multilingual Plane's private-use characters (U+E001 to U+F8FF: three UTF-8 bytes, one UTF-16
unit); the rest get plane 15's (U+F0000 on: four bytes, a surrogate pair), which still pays for
a word of five letters or more.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

#: Written before a private-use character that the text itself held.
ESCAPE = "\ue000"
#: The code of the dictionary's first word, and how many words get a one-unit code.
FIRST = 0xE001
SHORT_CODES = 0xF8FF - FIRST + 1
#: The code of word ``SHORT_CODES``, the first in plane 15's private-use area.
FIRST_LONG = 0xF0000
#: How many words fit.
CAPACITY = SHORT_CODES + 0xFFFFD - FIRST_LONG + 1
#: The words that may be coded: a three-byte code for four letters or more saves a byte at least.
_WORD = re.compile(r"([A-Za-z]{4,})")
_PRIVATE = re.compile("[\ue000-\uf8ff\U000f0000-\U0010ffff]")
_CODED = re.compile(
    "\ue000([\ue000-\uf8ff\U000f0000-\U0010ffff])|[\ue001-\uf8ff\U000f0000-\U000ffffd]"
)
#: The dictionary is counted on about this many characters of text, spread over the whole run:
#: the frequent words of a run show in any large slice of it, and counting all 80 MB of a full
#: run's reasoning would double the time to write its report.
SAMPLE_CHARS = 8_000_000


def dictionary(texts: Sequence[str | None], capacity: int = CAPACITY) -> list[str]:
    """The words worth a code, most valuable first: counted on an even slice of ``texts`` (every
    n-th text), ranked by the characters they would save, and kept only if seen twice."""
    present = [text for text in texts if text]
    total = sum(len(text) for text in present)
    step = max(1, total // SAMPLE_CHARS)
    counts: Counter[str] = Counter()
    for text in present[::step]:
        counts.update(_WORD.findall(text))
    worth = [(count * (len(word) - 3), word) for word, count in counts.items() if count > 1]
    worth.sort(key=lambda pair: (-pair[0], pair[1]))
    # A four-byte code saves nothing on a four-letter word.
    chosen = [word for _, word in worth[:capacity]]
    return chosen[:SHORT_CODES] + [word for word in chosen[SHORT_CODES:] if len(word) > 4]


def codes_of(words: Iterable[str]) -> dict[str, str]:
    """Each word's code character."""
    return {word: code(n) for n, word in enumerate(words)}


def code(n: int) -> str:
    """The character that stands for word ``n``."""
    return chr(FIRST + n if n < SHORT_CODES else FIRST_LONG + n - SHORT_CODES)


def index(code: str) -> int:
    """The word number of a code character (the inverse of :func:`code`)."""
    point = ord(code)
    return point - FIRST if point < FIRST_LONG else point - FIRST_LONG + SHORT_CODES


def encode(text: str | None, codes: dict[str, str]) -> str | None:
    """``text`` with every dictionary word replaced by its code (None stays None)."""
    if not text:
        return text
    if _PRIVATE.search(text):
        text = _PRIVATE.sub(lambda match: ESCAPE + match[0], text)
    parts = _WORD.split(text)
    parts[1::2] = [codes.get(word, word) for word in parts[1::2]]
    return "".join(parts)


def decode(text: str | None, words: Sequence[str]) -> str | None:
    """What :func:`encode` was given; the page's script does the same (``WORD_CODE`` in
    :mod:`bsa.output.report.browser`)."""
    if not text:
        return text
    return _CODED.sub(lambda match: match[1] or words[index(match[0])], text)
