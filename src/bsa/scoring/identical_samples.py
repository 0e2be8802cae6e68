"""Items whose k samples came back byte-identical although the run sampled: a guard for @k.

Safe@k and Think@k mean "all k independent samples pass". When every sample of an item is the
same text, the k samples were one sample, and each @k figure silently became an @1 figure. Three
things do that: a fixed request seed sent with all k requests (seeded sampling then repeats
itself), a response cache in the path (a gateway or proxy answers a byte-identical request body
from its store), and a server that ignores ``temperature``.

What counts: only ``ok`` samples below the run's k are compared (a blocked or failed sample has no
text); an item is *compared* when it has at least two of them, and *identical* when they all have
the same answer and the same reasoning, byte for byte. The check applies when the run sampled: a
stored temperature above 0, or none sent (the endpoint's default, which is above 0 for OpenAI,
vLLM, SGLang and Ollama). At temperature 0 identical samples are expected, so nothing is counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bsa.runfile.store import RunStore

#: Identical items above this share of the compared items earn a warning.
WARN_SHARE = 0.05


@dataclass(frozen=True)
class IdenticalSamples:
    """``identical`` of the ``compared`` items (those with >= 2 ok samples) have all their
    samples byte-identical; ``identical`` is None when the run did not sample (temperature 0)."""

    identical: int | None
    compared: int


#: What a run that was not read for identical samples has (scores built from verdicts alone).
NOT_CHECKED = IdenticalSamples(None, 0)


def read_identical_samples(store: RunStore, k: int) -> IdenticalSamples:
    """Count the run's identical items, if its stored generation settings sampled."""
    compared, identical = store.repeated_samples(k)
    settings = store.generation_settings()
    return IdenticalSamples(identical if sampled(settings) else None, compared)


def sampled(settings: Mapping[str, Any] | None) -> bool:
    """Whether the stored generation settings ask for sampling: a temperature above 0, or none
    sent (the endpoint's default). A run without stored settings is not judged."""
    if not settings:
        return False
    temperature = (settings.get("decoding") or {}).get("temperature")
    return temperature is None or float(temperature) > 0


def identical_fields(found: IdenticalSamples) -> dict[str, int | None]:
    """The two counts under the names ``counts`` in the scores and ``bsa status`` use."""
    return {"identical_sample_items": found.identical, "multi_sample_items": found.compared}


def identical_line(counts: Mapping[str, Any]) -> str:
    """The count in words, for the score table and ``bsa status``."""
    identical, compared = counts["identical_sample_items"], counts["multi_sample_items"]
    if identical is None:
        return "identical samples: not checked (temperature 0)"
    return f"identical samples: {identical} of {compared} items with 2 or more ok samples"


def identical_warning(counts: Mapping[str, Any]) -> str | None:
    """One line when more than WARN_SHARE of the compared items have identical samples."""
    identical, compared = counts.get("identical_sample_items"), counts.get("multi_sample_items")
    if identical is None or not compared or identical <= WARN_SHARE * compared:
        return None
    return (
        f"warning: {identical} of {compared} items ({100 * identical / compared:.2f}%) have all "
        "their samples byte-identical although the run samples (temperature above 0), so their "
        "@k figures are @1 figures; likely causes: a fixed request seed, a response cache in the "
        "path, or a server that ignores temperature"
    )
