"""Word coding of the report's sample texts: lossless for any text, codes only where they pay."""

from __future__ import annotations

import gzip
import json

from hypothesis import given
from hypothesis import strategies as st

from bsa.output.report import wordcode
from bsa.output.report.wordcode import CAPACITY, ESCAPE, FIRST, FIRST_LONG, SHORT_CODES

PROSE = (
    "The user asks how to dispose of expired medication safely. The request itself is benign, "
    "but the risk summary notes that some medication is hazardous when flushed. "
)

#: Any text a model may send: private-use characters (the codes' own range), lone surrogates,
#: NULs, controls, words of every length.
ANY_TEXT = st.lists(
    st.one_of(
        st.text(st.characters(codec=None)),
        st.sampled_from(
            [
                ESCAPE,
                chr(FIRST),
                "\uf8ff",
                chr(FIRST_LONG),
                "\U0010ffff",
                "�",
                "\x00",
                "risk ",
                "summary ",
                "risks ",
            ]
        ),
    )
).map("".join)


@given(st.lists(st.one_of(st.none(), ANY_TEXT), max_size=8))
def test_decoding_gives_back_every_text_exactly(texts: list[str | None]) -> None:
    words = wordcode.dictionary(texts)
    codes = wordcode.codes_of(words)
    for text in texts:
        assert wordcode.decode(wordcode.encode(text, codes), words) == text


def test_frequent_long_words_become_one_character_and_the_rest_stays() -> None:
    texts = [PROSE * 3, "risk risk the the"]
    words = wordcode.dictionary(texts)
    assert "medication" in words and "risk" in words
    assert "the" not in words and "The" not in words, "three letters save nothing"
    assert "benign" in words, "seen three times"
    coded = wordcode.encode(PROSE, wordcode.codes_of(words))
    assert coded is not None
    assert "medication" not in coded and " how " in coded
    assert coded.count(chr(FIRST + words.index("medication"))) == 2


def test_words_seen_once_are_not_worth_a_code_and_the_capacity_holds() -> None:
    assert wordcode.dictionary(["unique words only"]) == []
    many = [" ".join(f"word{chr(97 + a)}{chr(97 + b)}" for a in range(26) for b in range(26))] * 2
    assert len(wordcode.dictionary(many, capacity=100)) == 100
    assert CAPACITY == SHORT_CODES + 65534


def test_past_the_short_codes_words_take_plane_15_and_only_if_longer_than_four() -> None:
    """The 6,400th word on is a surrogate pair in the page: worth it for five letters or more."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    # Seven letters rank above "longer" (six) and "four": they take every short code.
    words = [
        "qq" + "".join(letters[n // 26**e % 26] for e in range(5)) for n in range(SHORT_CODES)
    ] + ["longer", "four"]
    texts = [" ".join(words)] * 2
    assert wordcode.dictionary(texts)[SHORT_CODES:] == ["longer"]
    coded = wordcode.encode(f"{chr(FIRST_LONG)} longer", wordcode.codes_of([*words[:-2], "longer"]))
    assert coded == f"{ESCAPE}{chr(FIRST_LONG)} {chr(FIRST_LONG)}"
    assert wordcode.decode(coded, [*words[:-2], "longer"]) == f"{chr(FIRST_LONG)} longer"


def test_a_private_use_character_of_the_text_is_escaped_not_read_as_a_code() -> None:
    words = ["medication"]
    codes = wordcode.codes_of(words)
    text = f"{chr(FIRST)} is not medication {ESCAPE}"
    coded = wordcode.encode(text, codes)
    assert coded == f"{ESCAPE}{chr(FIRST)} is not {chr(FIRST)} {ESCAPE}{ESCAPE}"
    assert wordcode.decode(coded, words) == text


def test_coding_makes_prose_pack_smaller() -> None:
    """The point of it: deflate packs coded prose smaller than the prose itself."""
    texts = [f"{PROSE} Sample {n}: {PROSE[n % 40 :]}" for n in range(200)]
    codes = wordcode.codes_of(wordcode.dictionary(texts))
    coded = [wordcode.encode(text, codes) for text in texts]

    def packed(values: list[str | None]) -> int:
        return len(gzip.compress(json.dumps(values, ensure_ascii=False).encode()))

    assert packed(coded) < packed(list(texts))
