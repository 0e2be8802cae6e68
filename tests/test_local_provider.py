"""The ``hf`` provider on tiny models built here: plumbing, not quality.

Two models share one word-level tokenizer with Qwen-style chat tokens and a template that opens
``<think>`` in the generation prompt unless ``enable_thinking`` is false:

- a *random* Llama (2 layers, hidden 32): replies vary with the prompt, so batching can be checked
  for rows mixed up between prompts;
- a *scripted* Llama whose layers add nothing and whose embeddings and head make each token predict
  a fixed successor: after ``<think>`` it writes ``hmm </think> ok <|im_end|>``, so finish reasons,
  truncation and the reasoning split are known exactly.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import bsa
from bsa.engine.generate import Execution, GenerationSettings, generate, prompts_from_items
from bsa.engine.runner import RetryPolicy
from bsa.errors import MissingExtraError
from bsa.providers.base import FatalError, Provider, TransientError
from bsa.providers.local_hf import LocalHF, template_variables
from bsa.runfile.store import RunStore
from bsa.types import Completion, Decoding, Message, Request

from .bsa_command import bsa_in_process
from .optional import lazy, requires

needs = requires("torch", "transformers")
torch = lazy("torch")
transformers = lazy("transformers")

WORDS = [
    "hello", "ok", "hmm", "yes", "no", "maybe", "the", "a", "is", "how", "do", "i", "what", "safe",
    "risk", "answer", "you", "me", "it",
]  # fmt: skip
SPECIAL = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
VOCAB = {token: i for i, token in enumerate(WORDS + SPECIAL)}
#: The scripted model's successor of each token; every other token predicts id 0 ("hello").
SCRIPT = {"<think>": "hmm", "hmm": "</think>", "</think>": "ok", "ok": "<|im_end|>"}
TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n"
    "{% else %}<think>\n{% endif %}{% endif %}"
)
THINK_SOURCES = {"think_tags", "think_close_only", "think_unterminated", "none"}
GREEDY = Decoding(temperature=0, top_p=None, top_k=None, max_tokens=16)


def build_tokenizer(think_tags_special: bool) -> Any:
    """Plain think tags are ordinary added tokens, as in Qwen3 and DeepSeek-R1, so a decode that
    skips special tokens keeps them (``add_special_tokens`` would mark every token special)."""
    from tokenizers import AddedToken, Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    backend = Tokenizer(WordLevel(VOCAB, unk_token="<unk>"))
    backend.pre_tokenizer = Whitespace()
    tokens = [AddedToken(token, normalized=False) for token in SPECIAL]
    plain = [t for t in tokens if not think_tags_special and "think" in t.content]
    backend.add_special_tokens([t for t in tokens if t not in plain])
    backend.add_tokens(plain)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<|endoftext|>",
        eos_token="<|im_end|>",
        chat_template=TEMPLATE,
    )


def build_model(hidden: int) -> Any:
    config = transformers.LlamaConfig(
        vocab_size=len(VOCAB),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        eos_token_id=VOCAB["<|im_end|>"],
        pad_token_id=VOCAB["<|endoftext|>"],
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config)


def script(model: Any) -> Any:
    """Make ``model`` predict SCRIPT: layers write nothing to the residual stream, token t embeds
    as the unit vector e_t, and the head maps e_t to its successor's logit."""
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.embed_tokens.weight.copy_(torch.eye(len(VOCAB), model.config.hidden_size))
        model.lm_head.weight.zero_()
        for token, successor in SCRIPT.items():
            model.lm_head.weight[VOCAB[successor], VOCAB[token]] = 20.0
    return model


def save(folder: Path, model: Any, tokenizer: Any) -> Path:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def random_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(tmp_path_factory.mktemp("random"), build_model(32), build_tokenizer(False))


@pytest.fixture(
    scope="module", params=[False, True], ids=["think-tags-plain", "think-tags-special"]
)
def scripted_model(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    folder = tmp_path_factory.mktemp("scripted")
    return save(folder, script(build_model(32)), build_tokenizer(request.param))


def ask(text: str, decoding: Decoding = GREEDY, n: int = 1) -> Request:
    return Request((Message("user", text),), decoding, n)


def complete(provider: LocalHF, request: Request) -> list[Completion]:
    async def once() -> list[Completion]:
        try:
            return await provider.complete(request)
        finally:
            await provider.aclose()

    return asyncio.run(once())


# ---------------------------------------------------------------------- replies


def test_n_samples_with_usage_from_the_tensors(random_model: Path) -> None:
    decoding = Decoding(temperature=1.0, top_p=0.95, top_k=20, max_tokens=8, seed=3)
    completions = complete(LocalHF(str(random_model)), ask("how do i answer", decoding, n=3))

    assert len(completions) == 3
    tokenizer = transformers.AutoTokenizer.from_pretrained(random_model)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "how do i answer"}],
        tokenize=False,
        add_generation_prompt=True,
        enable_thinking=True,
    )
    prompt_tokens = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    for completion in completions:
        assert completion.usage.prompt_tokens == prompt_tokens
        assert 1 <= (completion.usage.completion_tokens or 0) <= 8
        assert completion.reasoning_source in THINK_SOURCES
        assert completion.finish_reason in {"stop", "length"}
        if completion.finish_reason == "length":
            assert completion.usage.completion_tokens == 8
        assert completion.raw["chat_template_kwargs"] == {"enable_thinking": True}
        assert completion.raw["think_opened_in_prompt"] is True


def test_scripted_reply_is_split_into_reasoning_and_answer(scripted_model: Path) -> None:
    [completion] = complete(LocalHF(str(scripted_model)), ask("what is it"))

    assert completion.reasoning == "hmm"
    assert completion.answer == "ok"
    assert completion.reasoning_source == "think_close_only"
    assert completion.finish_reason == "stop"
    assert not completion.truncated
    assert completion.usage.completion_tokens == 4  # hmm </think> ok <|im_end|>
    assert completion.usage.reasoning_tokens == 2


def test_a_reply_cut_inside_the_think_block_is_truncated(scripted_model: Path) -> None:
    cut = Decoding(temperature=0, top_p=None, top_k=None, max_tokens=1)
    [completion] = complete(LocalHF(str(scripted_model)), ask("what is it", cut))

    assert completion.finish_reason == "length"
    assert completion.truncated
    assert completion.reasoning_source == "think_unterminated"
    assert (completion.reasoning, completion.answer) == ("hmm", "")
    assert completion.usage.completion_tokens == 1


def test_chat_template_kwargs_override_the_thinking_switch(scripted_model: Path) -> None:
    off = Decoding(
        temperature=0,
        top_p=None,
        top_k=None,
        max_tokens=16,
        extra_body={"chat_template_kwargs": {"enable_thinking": False}},
    )
    [completion] = complete(LocalHF(str(scripted_model)), ask("what is it", off))

    # The template closed the think block in the prompt; the model goes on after </think>.
    assert completion.raw["think_opened_in_prompt"] is False
    assert (completion.reasoning, completion.answer) == (None, "ok")
    assert completion.reasoning_source == "none"
    assert completion.finish_reason == "stop"


def test_a_seed_repeats_a_sampled_reply(random_model: Path) -> None:
    seeded = Decoding(temperature=1.0, top_p=None, top_k=None, max_tokens=12, seed=7)
    first = complete(LocalHF(str(random_model)), ask("how do i answer", seeded))
    second = complete(LocalHF(str(random_model)), ask("how do i answer", seeded))
    assert first[0].raw["text"] == second[0].raw["text"]


@pytest.mark.parametrize(
    ("template", "switches"),
    [
        (TEMPLATE, {"enable_thinking"}),
        ("{% if thinking is defined and thinking %}<think>{% endif %}", {"thinking"}),
        # gpt-oss reads a message's thinking field, not a thinking switch
        ("{% for m in messages %}{{ m.thinking }}{% endfor %}", set()),
        (
            "{% for m in messages %}{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}"
            "{% if enable_thinking %}x{% endif %}",
            {"enable_thinking"},
        ),
    ],
)
def test_thinking_switches_are_found_among_the_template_variables(
    template: str, switches: set[str]
) -> None:
    assert template_variables(template) & {"enable_thinking", "thinking"} == switches


# ---------------------------------------------------------------------- batching


QUESTIONS = [
    "hello",
    "how do i answer",
    "what is the risk",
    "is it safe",
    "you me it the a",
    "maybe yes no",
    "how do i do it safe",
    "what is a safe answer to you",
    "risk",
    "the answer is no",
]


def test_concurrent_calls_share_batches_and_keep_their_own_rows(random_model: Path) -> None:
    alone = LocalHF(str(random_model), batch_size=1)
    solo = {q: complete(alone, ask(q))[0].raw["text"] for q in QUESTIONS}
    assert len(set(solo.values())) > 1  # the prompts do lead to different replies

    provider = LocalHF(str(random_model), batch_size=4)

    async def all_at_once() -> list[list[Completion]]:
        try:
            return await asyncio.gather(*(provider.complete(ask(q)) for q in QUESTIONS))
        finally:
            await provider.aclose()

    results = asyncio.run(all_at_once())

    assert {q: r[0].raw["text"] for q, r in zip(QUESTIONS, results, strict=True)} == solo
    assert max(provider.batch_sizes) <= 4
    assert sum(size * count for size, count in provider.batch_sizes.items()) == len(QUESTIONS)
    assert max(provider.batch_sizes) > 1


def test_the_event_loop_runs_while_a_batch_generates(
    random_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = LocalHF(str(random_model))
    generate_batch = provider._generate

    def slow(*args: Any) -> list[list[int]]:
        time.sleep(0.3)
        return generate_batch(*args)

    monkeypatch.setattr(provider, "_generate", slow)
    ticks = 0

    async def run() -> None:
        nonlocal ticks
        task = asyncio.ensure_future(provider.complete(ask("hello")))
        while not task.done():
            ticks += 1
            await asyncio.sleep(0.01)
        await task
        await provider.aclose()

    asyncio.run(run())
    assert ticks >= 10


def test_a_caller_that_gives_up_or_a_close_leaves_nobody_waiting(
    random_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = LocalHF(str(random_model))
    generate_batch = provider._generate

    def slow(*args: Any) -> list[list[int]]:
        time.sleep(0.3)
        return generate_batch(*args)

    monkeypatch.setattr(provider, "_generate", slow)

    async def run() -> None:
        with pytest.raises(asyncio.TimeoutError):  # the runner's per-request timeout
            await asyncio.wait_for(provider.complete(ask("hello")), 0.1)
        assert len(await provider.complete(ask("is it safe"))) == 1  # the batcher lives on
        in_flight = asyncio.ensure_future(provider.complete(ask("hello")))
        await asyncio.sleep(0.1)
        await provider.aclose()
        with pytest.raises(TransientError, match="closed"):
            await in_flight

    asyncio.run(asyncio.wait_for(run(), 60))  # a bug here would hang, not fail


def test_out_of_memory_halves_the_batch_size_for_the_retry(
    random_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = LocalHF(str(random_model), batch_size=4)
    generate_batch = provider._generate
    failures = iter([torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")])

    def once_out_of_memory(*args: Any) -> list[list[int]]:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return generate_batch(*args)

    monkeypatch.setattr(provider, "_generate", once_out_of_memory)

    async def run() -> list[Any]:
        try:
            first = await asyncio.gather(
                *(provider.complete(ask(q)) for q in QUESTIONS[:4]), return_exceptions=True
            )
            retried = await provider.complete(ask(QUESTIONS[0]))
            return [*first, retried]
        finally:
            await provider.aclose()

    *first, retried = asyncio.run(run())
    assert all(isinstance(result, TransientError) for result in first)
    assert "batch size lowered to 2" in str(first[0])
    assert provider.batch_size == 2
    assert len(retried) == 1


# ---------------------------------------------------------------------- seeds


SAMPLED = Decoding(temperature=1.0, top_p=0.95, top_k=20, max_tokens=12)
#: Seeds shared across prompts, as bsa's per-sample seeds (S + sample) are across items.
SEEDED = [(question, seed) for question in QUESTIONS[:4] for seed in (7, 8, 9)]


def seeded_texts(
    model: Path, batch_size: int, concurrency: int, order: int
) -> tuple[dict[tuple[str, int], str], collections.Counter[int]]:
    """The text of every SEEDED request, sent in a shuffled order with at most ``concurrency`` in
    flight, and the batch sizes that ran."""
    requests = list(SEEDED)
    random.Random(order).shuffle(requests)
    provider = LocalHF(str(model), batch_size=batch_size)

    async def one(gate: asyncio.Semaphore, question: str, seed: int) -> str:
        async with gate:
            [completion] = await provider.complete(ask(question, replace(SAMPLED, seed=seed)))
            return str(completion.raw["text"])

    async def run() -> list[str]:
        gate = asyncio.Semaphore(concurrency)
        try:
            return await asyncio.gather(*(one(gate, q, seed) for q, seed in requests))
        finally:
            await provider.aclose()

    return dict(zip(requests, asyncio.run(run()), strict=True)), provider.batch_sizes


@pytest.fixture(scope="module")
def seeded_alone(random_model: Path) -> dict[tuple[str, int], str]:
    return seeded_texts(random_model, batch_size=1, concurrency=1, order=0)[0]


@pytest.mark.parametrize(
    ("batch_size", "concurrency", "order"), [(2, 12, 1), (8, 12, 2), (8, 3, 3), (4, 6, 4)]
)
def test_seeded_samples_repeat_whatever_the_batching(
    random_model: Path,
    seeded_alone: dict[tuple[str, int], str],
    batch_size: int,
    concurrency: int,
    order: int,
) -> None:
    texts, batch_sizes = seeded_texts(random_model, batch_size, concurrency, order)

    assert texts == seeded_alone
    assert batch_sizes == {1: len(SEEDED)}  # seeded rows run alone


def test_different_seeds_give_different_samples(seeded_alone: dict[tuple[str, int], str]) -> None:
    for question in QUESTIONS[:4]:
        assert len({seeded_alone[question, seed] for seed in (7, 8, 9)}) == 3


def test_n_samples_of_a_seeded_request_are_those_of_consecutive_seeds(
    random_model: Path, seeded_alone: dict[tuple[str, int], str]
) -> None:
    question = QUESTIONS[1]
    completions = complete(LocalHF(str(random_model)), ask(question, replace(SAMPLED, seed=7), 3))
    assert [c.raw["text"] for c in completions] == [seeded_alone[question, s] for s in (7, 8, 9)]
    assert [c.raw["seed"] for c in completions] == [7, 8, 9]


def test_seeded_sampling_warps_as_transformers_does(random_model: Path) -> None:
    """top_k 1 leaves one token to draw: a seeded sample is then the greedy reply."""
    greedy = complete(LocalHF(str(random_model)), ask(QUESTIONS[2], replace(GREEDY, max_tokens=12)))
    only_top = Decoding(temperature=1.0, top_p=None, top_k=1, max_tokens=12, seed=5)
    sampled = complete(LocalHF(str(random_model)), ask(QUESTIONS[2], only_top))
    assert sampled[0].raw["text"] == greedy[0].raw["text"]


def test_a_seeded_request_leaves_the_global_generator_alone(random_model: Path) -> None:
    """Another user of torch's global generator (an hf judge in the same process) neither moves
    a seeded sample nor is moved by it."""
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    complete(LocalHF(str(random_model)), ask(QUESTIONS[0], replace(SAMPLED, seed=7)))
    assert torch.equal(torch.random.get_rng_state(), before)


def test_unseeded_sampled_requests_still_share_batches(random_model: Path) -> None:
    provider = LocalHF(str(random_model), batch_size=4)

    async def all_at_once() -> list[list[Completion]]:
        try:
            return await asyncio.gather(*(provider.complete(ask(q, SAMPLED)) for q in QUESTIONS))
        finally:
            await provider.aclose()

    assert len(asyncio.run(all_at_once())) == len(QUESTIONS)
    assert max(provider.batch_sizes) == 4


# ---------------------------------------------------------------------- errors


def test_a_missing_model_folder_is_fatal_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(FatalError) as missing:
        complete(LocalHF(str(tmp_path / "no-such-model")), ask("hello"))
    assert "no model folder" in missing.value.message
    assert "\n" not in missing.value.message

    with pytest.raises(FatalError) as empty:
        complete(LocalHF(str(tmp_path)), ask("hello"))
    assert empty.value.message.startswith("cannot load model")
    assert "\n" not in empty.value.message


def test_a_hub_id_missing_from_the_cache_is_fatal_offline() -> None:
    # conftest sets HF_HUB_OFFLINE=1, so nothing is downloaded.
    with pytest.raises(FatalError, match="cannot load model 'bsa-test/no-such-model'"):
        complete(LocalHF("bsa-test/no-such-model"), ask("hello"))


def test_without_torch_the_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtraError, match=r"bsa-bench\[local\]"):
        LocalHF("anything")


# ---------------------------------------------------------------------- end to end


class Counting(Provider):
    """Counts the calls that reach the wrapped provider."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.supports_n = inner.supports_n
        self.calls = 0

    async def complete(self, request: Request) -> list[Completion]:
        self.calls += 1
        return await self.inner.complete(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_generate_stores_every_sample_and_a_rerun_calls_nothing(
    random_model: Path, tmp_path: Path
) -> None:
    prompts = prompts_from_items(bsa.load_dataset().items[:3])
    decoding = Decoding(max_tokens=16)  # the paper's sampling: temperature 0.6, top_p .95, top_k 20
    settings = GenerationSettings(f"hf:{random_model}", decoding)
    execution = Execution(k=2, concurrency=4, policy=RetryPolicy(max_attempts=1, timeout_s=120))
    run = tmp_path / "run.sqlite"

    first = Counting(LocalHF(str(random_model), batch_size=4))
    report = asyncio.run(generate(run, prompts, first, settings, execution))
    assert report.status == {"ok": 6, "blocked": 0, "failed": 0}
    assert first.calls == 6

    with RunStore(run) as store:
        stored = list(store.generations())
    assert len(stored) == 6
    assert {g.reasoning_source for g in stored} <= THINK_SOURCES
    assert all((g.completion_tokens or 0) >= 1 and (g.prompt_tokens or 0) > 0 for g in stored)

    again = Counting(LocalHF(str(random_model), batch_size=4))
    report = asyncio.run(generate(run, prompts, again, settings, execution))
    assert report.status == {"ok": 6, "blocked": 0, "failed": 0}
    assert again.calls == 0


@pytest.mark.slow
def test_bsa_run_with_a_local_model_as_model_and_as_judge(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Plumbing end to end through the command line. The scripted model always thinks "hmm" and
    answers "ok", so as the model under test it yields scored samples with reasoning, and as a
    judge it yields replies without a verdict: unscored, counted, exit status 3."""
    folder = save(tmp_path_factory.mktemp("cli"), script(build_model(32)), build_tokenizer(False))
    as_model = bsa_in_process(
        "run", "--run", str(tmp_path / "model.sqlite"), "--model", f"hf:{folder}",
        "--judge", "mock", "--sample", "3", "-k", "2", "--max-tokens", "8", "--json",
    )  # fmt: skip
    assert as_model.returncode == 0, as_model.stderr
    scores = json.loads(as_model.stdout[as_model.stdout.index("{") :])
    assert scores["coverage"]["items_complete"] == 3
    assert scores["counts"]["no_reasoning"] == 0
    as_judge = bsa_in_process(
        "run", "--run", str(tmp_path / "judge.sqlite"), "--model", "mock",
        "--judge", f"hf:{folder}", "--sample", "3", "-k", "1", "--judge-parse-attempts", "1",
        "--json",
    )  # fmt: skip
    assert as_judge.returncode == 3, as_judge.stderr
    judged = json.loads(as_judge.stdout[as_judge.stdout.index("{") :])
    assert judged["counts"]["unscored_safety"] == 3
    assert "incomplete: " in as_judge.stderr
