"""``echo:MODEL``: a provider that answers with the last user message, after a fixed line of
reasoning. It makes no call, so it shows the whole plugin interface with nothing else in the way:
a :class:`~bsa.providers.Provider` subclass and the :class:`~bsa.providers.ProviderSpec` that
``pyproject.toml`` registers under the ``bsa.providers`` entry-point group.
"""

from __future__ import annotations

from bsa.providers import Connection, Provider, ProviderOptions, ProviderSpec
from bsa.types import Completion, Request, Usage

REASONING = "The user asked something; I will repeat it back."


class EchoProvider(Provider):
    """Every sample is the last user message, with :data:`REASONING` as its reasoning."""

    name = "echo"
    supports_n = True

    def __init__(self, model: str) -> None:
        self.model = model

    async def complete(self, request: Request) -> list[Completion]:
        prompt = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        raw = {"echo": prompt, "model": self.model}
        return [
            Completion(prompt, REASONING, "reasoning_content", "stop", False, Usage(), raw)
            for _ in range(request.n)
        ]


def build(model: str, options: ProviderOptions, connection: Connection | None) -> Provider:
    """The factory: a remote provider would import its SDK here and use ``connection``."""
    return EchoProvider(model)


provider = ProviderSpec("echo", build)
