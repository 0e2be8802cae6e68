"""The values that pass between providers, the runner and the run file.

Frozen dataclasses: they are created once per call and never change, and a provider that returns one
has said everything the rest of the pipeline may know about that call.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Usage:
    """Token counts as the provider reported them; None where it did not say."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    #: Input tokens read from the provider's prompt cache, counted in ``prompt_tokens`` too
    #: (billed at the cached-input price).
    cached_tokens: int | None = None
    #: Input tokens written to the cache (Anthropic's ``cache_creation_input_tokens``, billed at
    #: 1.25x the input price), counted in ``prompt_tokens`` too; None where nothing says.
    cache_write_tokens: int | None = None

    @property
    def total(self) -> int:
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


@dataclass(frozen=True)
class Completion:
    """One sample of a model's reply, reasoning and answer apart (see :mod:`bsa.engine.reasoning`).

    ``finish_reason`` "content_filter" means the provider blocked the reply: the runner stores the
    sample as ``blocked``, never as model text.
    """

    answer: str
    reasoning: str | None
    reasoning_source: str
    finish_reason: str | None
    truncated: bool
    usage: Usage
    raw: dict[str, Any] = field(repr=False)
    #: The endpoint that made it, when the model has several (:mod:`bsa.providers.replicas`):
    #: its URL without userinfo or query; None with one endpoint.
    replica: str | None = None

    @property
    def blocked(self) -> bool:
        return self.finish_reason == "content_filter"


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    #: How many leading characters of ``content`` are the same in every call of the stage (a
    #: judge template's fixed text): a provider whose prompt cache needs a marker (Anthropic's
    #: ``cache_control``) may mark them; the others cache prefixes by themselves and ignore it.
    cache_prefix: int = 0

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Decoding:
    """Sampling settings. None means "do not send": the endpoint's own default applies.

    The paper's recommended decoding (temperature 0.6, top_p 0.95, top_k 20) is the default for
    generation; ``top_k`` is not an OpenAI parameter and is dropped for endpoints that refuse it.
    """

    temperature: float | None = 0.6
    top_p: float | None = 0.95
    top_k: int | None = 20
    max_tokens: int | None = None
    seed: int | None = None
    reasoning_effort: str | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)

    def for_sample(self, sample: int) -> Decoding:
        """The decoding of sample ``sample``: the seed, when there is one, becomes ``seed +
        sample``. One seed for all k samples makes a server with seeded sampling return the same
        completion k times, and every @k figure an @1 figure; a seed derived from the sample's
        number alone keeps a run reproducible and a resumed run sending what a whole run would."""
        if self.seed is None:
            return self
        return replace(self, seed=self.seed + sample)


@dataclass(frozen=True)
class Request:
    """One call: the messages, how many samples (``n``), and the decoding."""

    messages: tuple[Message, ...]
    decoding: Decoding
    n: int = 1
