"""``--batch`` on the client: CPU per request of 2,000 BSA items x k 5 = 10,000 requests.

A vendor batch takes the waiting off the client; what is left is its own work per request:
building and encoding the request (the live path's body), reading its line of the output file
through the provider's live reading of a reply, and storing the sample. The vendor here answers
at once, in this process: it keeps the encoded requests and, when polled, writes an OpenAI output
file with one chat completion per request (3,000 characters of reasoning, 800 of answer, as
``benchmarks/generation.py``); the CPU it spends doing so is measured apart and taken off, so the
figure is the client's. The limit the figure is held against is the live path's target of 1.5 ms
of client CPU per call (issue 11, item 6): a batch request should cost less than a live call,
having no HTTP exchange of its own.

Run: ``python benchmarks/batch.py`` (about a minute); ``--items`` and ``-k`` change the scale.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bsa.batch
from bsa.batch.api import BatchApi, BatchResult, BatchState, BatchTag
from bsa.batch.openai_batch import OPENAI_LIMITS, OpenAIBatch
from bsa.data.dataset import load_dataset
from bsa.engine.generate import Execution, GenerationSettings, generate, prompts_from_items
from bsa.providers import Limits, Provider, ProviderOptions, create_provider
from bsa.providers.openai_compat import OpenAICompatible
from bsa.types import Request

#: The live path's target of client CPU per call, the limit a batch request is held against.
TARGET_MS = 1.5
DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "bsa" / "dataset.csv"


class InstantVendor(BatchApi):
    """OpenAI's batch format with the real encoding and reading, answered at once; the CPU its
    vendor side spends is counted in :attr:`vendor_cpu` (seconds)."""

    def __init__(self, real: OpenAIBatch) -> None:
        super().__init__(OPENAI_LIMITS)
        self.real = real
        self.label = real.label
        self.vendor_cpu = 0.0
        self._batches: dict[str, Sequence[bytes]] = {}

    def encode(self, custom_id: str, request: Request) -> bytes:
        return self.real.encode(custom_id, request)

    async def submit(self, entries: Sequence[bytes], tag: BatchTag) -> BatchState:
        batch_id = f"batch_{len(self._batches) + 1}"
        self._batches[batch_id] = entries
        return BatchState(batch_id, "validating", False)

    async def cancel(self, batch_id: str) -> BatchState:
        return BatchState(batch_id, "cancelled", True)

    async def poll(self, batch_id: str) -> BatchState:
        return BatchState(batch_id, "completed", True, {"total": len(self._batches[batch_id])})

    async def results(self, state: BatchState) -> list[BatchResult]:
        started = time.process_time()
        output = b"".join(_answered(entry) for entry in self._batches[state.batch_id])
        self.vendor_cpu += time.process_time() - started
        return self.real._read_lines(output)


def _answered(entry: bytes) -> bytes:
    """The output-file line of one request: a chat completion of fixed-size texts."""
    custom_id = json.loads(entry)["custom_id"]
    message = {"role": "assistant", "content": "a" * 800, "reasoning_content": "r" * 3000}
    body = {
        "id": f"chatcmpl-{custom_id}", "object": "chat.completion", "model": "bench",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 200, "completion_tokens": 950, "total_tokens": 1150},
    }  # fmt: skip
    line = {"id": f"batch_req_{custom_id}", "custom_id": custom_id, "error": None,
            "response": {"status_code": 200, "request_id": "req", "body": body}}  # fmt: skip
    return json.dumps(line).encode() + b"\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("-k", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("BSA_DATA_DIR", str(DEFAULT_DATASET.parent))
    os.environ["OPENAI_API_KEY"] = "sk-bench"
    prompts = prompts_from_items(load_dataset().items[: args.items])
    vendors: list[InstantVendor] = []

    def instant(provider: Provider) -> BatchApi:
        assert isinstance(provider, OpenAICompatible)
        vendors.append(InstantVendor(OpenAIBatch(provider)))
        return vendors[-1]

    bsa.batch.batch_api_for = instant  # type: ignore[assignment]  # the vendor stands in
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run.sqlite"
        figures = asyncio.run(_measure(run, prompts, args.k))
        size = run.stat().st_size
    requests = int(figures["requests"])
    client_cpu = figures["cpu"] - sum(v.vendor_cpu for v in vendors)
    per_request = 1000 * client_cpu / requests
    print(f"requests {requests:,}, wall {figures['wall']:.1f} s, run file {size / 1e6:.1f} MB")
    print(f"client CPU {client_cpu:.1f} s = {per_request:.3f} ms per request "
          f"(vendor side {sum(v.vendor_cpu for v in vendors):.1f} s, taken off)")  # fmt: skip
    print(f"ratio to the live target of {TARGET_MS} ms per call: {per_request / TARGET_MS:.2f} "
          f"({'met' if per_request <= TARGET_MS else 'NOT met'})")  # fmt: skip


async def _measure(run: Path, prompts: Any, k: int) -> dict[str, float]:
    options = ProviderOptions(base_url="http://127.0.0.1:9/v1")
    provider = create_provider("openai:bench", options, limits=Limits(timeout_s=60))
    settings = GenerationSettings(provider.label)
    execution = Execution(k=k, batch=True, poll_interval_s=0.001)
    wall, cpu = time.perf_counter(), time.process_time()
    report = await generate(run, prompts, provider, settings, execution)
    assert report.status["ok"] == len(prompts) * k, report.status
    return {
        "requests": float(report.counters.done),
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
    }


if __name__ == "__main__":
    main()
