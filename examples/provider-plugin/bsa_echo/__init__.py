"""``echo:MODEL``: a provider that answers with the last user message, after a fixed line of
reasoning. It makes no call, so it shows the whole plugin interface with nothing else in the way:
a :class:`~bsa.providers.Provider` subclass, the options only it understands (a frozen dataclass
of :func:`~bsa.providers.option` fields), and the :class:`~bsa.providers.ProviderSpec` that
``pyproject.toml`` registers under the ``bsa.providers`` entry-point group.
"""

from __future__ import annotations

from dataclasses import dataclass

from bsa.providers import Connection, Provider, ProviderSpec, option
from bsa.types import Completion, Request, Usage

REASONING = "The user asked something; I will repeat it back."


@dataclass(frozen=True)
class EchoOptions:
    """Set with ``-o prefix TEXT`` (or ``--echo-prefix TEXT``); bsa's CLI needs no edit."""

    prefix: str = option("", help="Text put before every echoed answer.", flag="--echo-prefix")


class EchoProvider(Provider):
    """Every sample is the last user message (after ``prefix``), with :data:`REASONING` as its
    reasoning."""

    name = "echo"
    supports_n = True

    def __init__(self, model: str, prefix: str = "") -> None:
        self.model = model
        self.prefix = prefix

    async def complete(self, request: Request) -> list[Completion]:
        prompt = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        answer = self.prefix + prompt
        raw = {"echo": answer, "model": self.model}
        return [
            Completion(answer, REASONING, "reasoning_content", "stop", False, Usage(), raw)
            for _ in range(request.n)
        ]


def build(model: str, options: EchoOptions, connection: Connection | None) -> Provider:
    """The factory: a remote provider would import its SDK here and use ``connection``."""
    return EchoProvider(model, options.prefix)


provider = ProviderSpec("echo", build, options=EchoOptions)
