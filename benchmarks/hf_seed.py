"""What seeding costs the ``hf`` provider, and why a seeded row runs alone.

On a random Llama built here (default: hidden 32, 2 layers, 64 words: the size the tests use) that
never stops before ``--max-tokens``, with the paper's sampling (temperature 0.6, top_p 0.95, top_k
20):

1. Throughput (best of ``--repeats``: the machine may be shared) of P prompts x k samples at
   ``--batch-size`` and ``--concurrency``: unseeded (rows share batches), seeded with bsa's
   per-sample seeds S + sample, and unseeded at batch size 1. This part uses only ``LocalHF``'s
   public API, so it also measures an older tree (point PYTHONPATH at its ``src``).
2. Repetition: the seeded texts at ``--batch-size`` with every request in flight in a shuffled
   order, against the same requests one at a time at batch size 1.
3. Why seeded rows run alone: the logits of each row in padded batches of every size from 2 to
   ``--batch-size``, bit for bit against the row alone, and how many texts would change if seeded
   rows shared batches (each row still drawing from its own generator).

Run: ``python benchmarks/hf_seed.py`` (a few minutes); ``--help`` for the knobs.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import transformers
from tokenizers import AddedToken, Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from bsa.providers import local_hf
from bsa.providers.local_hf import LocalHF
from bsa.types import Decoding, Message, Request

SPECIAL = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)
SEED = 1000


def build(folder: Path, args: argparse.Namespace) -> list[str]:
    """Save a random Llama and its word-level tokenizer in ``folder``; return P prompts."""
    words = [f"w{i}" for i in range(args.words)]
    vocab = {token: i for i, token in enumerate(words + SPECIAL)}
    backend = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = Whitespace()
    backend.add_special_tokens([AddedToken(t, normalized=False) for t in SPECIAL])
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", pad_token="<|endoftext|>",
        eos_token="<|im_end|>", chat_template=TEMPLATE,
    )  # fmt: skip
    config = transformers.LlamaConfig(
        vocab_size=len(vocab), hidden_size=args.hidden, intermediate_size=2 * args.hidden,
        num_hidden_layers=args.layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=4096, eos_token_id=vocab["<|im_end|>"],
        pad_token_id=vocab["<|endoftext|>"], bos_token_id=None, tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    model.generation_config.suppress_tokens = [vocab["<|im_end|>"]]  # every row runs max_tokens
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    draw = random.Random(0)
    return [" ".join(draw.choices(words, k=draw.randint(3, 30))) for _ in range(args.prompts)]


def requests(prompts: list[str], k: int, decoding: Decoding, seeded: bool) -> list[Request]:
    """P x k requests, seeded as bsa seeds them: sample j of every item with S + j."""
    return [
        Request((Message("user", p),), replace(decoding, seed=SEED + j if seeded else None))
        for p in prompts
        for j in range(k)
    ]


def run(model: Path, batch: list[Request], batch_size: int, concurrency: int) -> dict[str, Any]:
    """Send ``batch`` with at most ``concurrency`` in flight; texts, tokens, wall time."""
    provider = LocalHF(str(model), batch_size=batch_size)

    async def one(gate: asyncio.Semaphore, request: Request) -> tuple[str, int]:
        async with gate:
            [completion] = await provider.complete(request)
            return str(completion.raw["text"]), completion.usage.completion_tokens or 0

    async def all_requests() -> list[tuple[str, int]]:
        gate = asyncio.Semaphore(concurrency)
        await provider.complete(batch[0])  # load the model outside the clock
        start = time.perf_counter()
        try:
            results = await asyncio.gather(*(one(gate, request) for request in batch))
        finally:
            await provider.aclose()
        timing["wall"] = time.perf_counter() - start
        return results

    timing: dict[str, float] = {}
    provider_batches_before = collections.Counter(provider.batch_sizes)
    results = asyncio.run(all_requests())
    batches = provider.batch_sizes - provider_batches_before
    batches[1] -= 1  # the warm-up call
    return {
        "texts": [text for text, _ in results],
        "tokens": sum(tokens for _, tokens in results),
        "wall": timing["wall"],
        "batches": dict(sorted((+batches).items())),
    }


def throughput(model: Path, prompts: list[str], args: argparse.Namespace) -> None:
    decoding = Decoding(temperature=0.6, top_p=0.95, top_k=20, max_tokens=args.max_tokens)
    print(
        f"1. {args.prompts} prompts x k {args.k}, batch size {args.batch_size}, concurrency "
        f"{args.concurrency}, max_tokens {args.max_tokens}, torch threads {torch.get_num_threads()}"
    )
    figures = {}
    cases = [
        ("unseeded", False, args.batch_size),
        ("seeded", True, args.batch_size),
        ("unseeded, batch size 1", False, 1),
    ]
    for label, seeded, batch_size in cases:
        batch = requests(prompts, args.k, decoding, seeded)
        tries = [run(model, batch, batch_size, args.concurrency) for _ in range(args.repeats)]
        result = min(tries, key=lambda r: r["wall"])  # the machine is shared: the least disturbed
        figures[label] = result["tokens"] / result["wall"]
        print(
            f"   {label:22}: {len(batch) / result['wall']:6.1f} samples/s, "
            f"{figures[label]:7.0f} tokens/s ({result['tokens']} tokens in "
            f"{result['wall']:.1f} s); batches {result['batches']}"
        )
    unseeded = figures["unseeded"]
    print(f"   seeded / unseeded tokens per second: {figures['seeded'] / unseeded:.2f}")


def repetition(model: Path, prompts: list[str], args: argparse.Namespace) -> None:
    decoding = Decoding(temperature=0.6, top_p=0.95, top_k=20, max_tokens=args.max_tokens)
    batch = requests(prompts, args.k, decoding, seeded=True)
    alone = run(model, batch, batch_size=1, concurrency=1)["texts"]
    order = list(range(len(batch)))
    random.Random(1).shuffle(order)
    crowded = run(model, [batch[i] for i in order], args.batch_size, len(batch))["texts"]
    same = sum(crowded[position] == alone[i] for position, i in enumerate(order))
    print(
        f"2. seeded texts at batch size {args.batch_size}, all in flight, shuffled, against one "
        f"at a time: {same}/{len(batch)} identical"
    )


def padded(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    return ids, mask


def sample_rows(
    model: Any, rows: list[list[int]], seeds: list[int], decoding: Decoding, pad: int
) -> tuple[list[list[int]], list[torch.Tensor]]:
    """What batching seeded rows would give: one padded ``generate`` with a generator per row."""
    warpers = local_hf._warpers(transformers, model, decoding)
    sampler = local_hf._RowSampler(torch, warpers, seeds)
    ids, mask = padded(rows, pad)
    with torch.inference_mode():
        output = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=decoding.max_tokens,
            pad_token_id=pad, do_sample=False, output_logits=True, return_dict_in_generate=True,
            logits_processor=transformers.LogitsProcessorList([sampler]),
        )  # fmt: skip
    tokens = output.sequences[:, ids.shape[1] :].tolist()
    logits = [torch.stack([step[i] for step in output.logits]) for i in range(len(rows))]
    return tokens, logits


def batched_against_alone(model_dir: Path, prompts: list[str], args: argparse.Namespace) -> None:
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    rendered = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
        )
        for p in prompts
    ]
    rows = [list(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in rendered]
    rows = [row for row in rows for _ in range(args.k)]
    seeds = [SEED + j for _ in prompts for j in range(args.k)]
    decoding = Decoding(temperature=0.6, top_p=0.95, top_k=20, max_tokens=args.max_tokens)
    pad = tokenizer.pad_token_id
    alone = [sample_rows(model, [r], [s], decoding, pad) for r, s in zip(rows, seeds, strict=True)]
    print("3. seeded rows in padded batches, each with its own generator, against alone:")
    for size in range(2, args.batch_size + 1):
        bitwise = changed = 0
        for start in range(0, len(rows), size):
            tokens, logits = sample_rows(
                model, rows[start : start + size], seeds[start : start + size], decoding, pad
            )
            for offset, (row_tokens, row_logits) in enumerate(zip(tokens, logits, strict=True)):
                solo_tokens, solo_logits = (part[0] for part in alone[start + offset])
                steps = min(len(row_logits), len(solo_logits))
                bitwise += torch.equal(row_logits[:steps], solo_logits[:steps])
                changed += _until_eos(row_tokens, model) != _until_eos(solo_tokens, model)
        print(
            f"   batch size {size}: logits bit for bit equal in {bitwise}/{len(rows)} rows; "
            f"texts changed in {changed}/{len(rows)}"
        )


def _until_eos(tokens: list[int], model: Any) -> list[int]:
    eos = model.generation_config.eos_token_id
    return tokens[: tokens.index(eos) + 1] if eos in tokens else tokens


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--words", type=int, default=64)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("-k", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="Best of N timings.")
    parser.add_argument("--only-throughput", action="store_true", help="Skip parts 2 and 3.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder)
        prompts = build(model, args)
        print(f"model: random Llama, hidden {args.hidden}, {args.layers} layers, CPU float32")
        throughput(model, prompts, args)
        if not args.only_throughput:
            repetition(model, prompts, args)
            batched_against_alone(model, prompts, args)


if __name__ == "__main__":
    main()
