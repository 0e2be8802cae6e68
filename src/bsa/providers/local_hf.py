"""A local model run in this process with Hugging Face ``transformers`` (``hf:PATH_OR_ID``).

For a GPU the better road is a vLLM or SGLang server behind the ``openai`` provider
(docs/tutorial/local-model.md): it batches continuously and pages its KV cache. This provider is for a model that is on disk with no
server: a small model on CPU, a quick look at a checkpoint, a machine where neither server installs.

The runner calls :meth:`LocalHF.complete` from many workers at once. Each call puts one row per
sample (``n``) on a queue; one batcher task takes up to ``batch_size`` rows with the same sampling
settings, pads them on the left and runs ``model.generate`` in a worker thread, so the event loop
never waits on the model. ``n`` samples are ``n`` rows of the same prompt, which is what
``num_return_sequences`` does inside ``generate``, but lets calls with different ``n`` share a
batch, keeps ``batch_size`` a bound on the sequences in memory, and works for greedy decoding (where
``generate`` refuses ``num_return_sequences`` > 1).

Thinking is switched on where the chat template has a switch for it: ``enable_thinking`` (Qwen3,
and the templates that copied it) and ``thinking`` (DeepSeek-V3.1, Granite), found among the
template's free variables; ``chat_template_kwargs`` in ``--extra-body`` override them, as they do
for vLLM and SGLang. The reply is decoded with special tokens dropped except the think tags (some
tokenizers make ``</think>`` a special token) and split by :func:`bsa.engine.reasoning.split_content`;
when the template opens ``<think>`` in the prompt (Qwen3, DeepSeek-R1 distills), a reply that
never closes it is all reasoning, cut off: ``think_unterminated``, truncated.

Decoding: temperature 0 or None is greedy; otherwise sampling with the given top_p and top_k (None
keeps the model's ``generation_config`` value). ``max_tokens`` None means :data:`DEFAULT_MAX_TOKENS`.

A seeded request repeats exactly whatever the batch size, the concurrency and the order in which
requests arrive, because its rows never share a batch and never touch torch's global generator:

- Each row draws from its own ``torch.Generator``, seeded with the request's seed plus the row's
  index (so ``n`` samples of a request seeded S are those of ``n`` requests seeded S, S+1, ...;
  bsa's per-sample seeds are S + sample, so both roads give the same samples). The draw is made
  by :class:`_RowSampler`, the last logits processor of a greedy ``generate``: it applies the
  warpers transformers builds for these sampling settings and leaves only the drawn token.
- Each seeded row runs alone (a batch of one). A padded batch computes a row's logits with other
  shapes than the row alone, and the float rounding differs (in the last bits, in nearly every
  row on CPU float32 at batch sizes 2 to 8, ``benchmarks/hf_seed.py``); a sampled token, or a
  greedy one at a near tie, can then change. Unseeded rows still share batches.

Out of GPU memory, the batch size is halved for every later batch and the rows of the failed batch
are a :class:`TransientError`, so the runner's retry runs them in smaller batches: retrying the
same batch would only run out of memory again. One sequence alone that does not fit is a
:class:`ContextOverflow` (that sample fails), or a :class:`FatalError` if no batch ever fitted.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import importlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bsa.engine.reasoning import CLOSE_TAG, OPEN_TAG, Split, split_content
from bsa.errors import MissingExtraError
from bsa.providers.base import (
    ContextOverflow,
    FatalError,
    Provider,
    ProviderError,
    TransientError,
)
from bsa.types import Completion, Decoding, Request, Usage

#: New tokens per sample when the request gives no ``max_tokens``: room for a reasoning trace of
#: a few pages; raise it (``--max-tokens``) for models that think longer.
DEFAULT_MAX_TOKENS = 2048
DEFAULT_BATCH_SIZE = 8
#: Chat-template variables that switch thinking on, set True when the template reads them.
THINKING_SWITCHES = ("enable_thinking", "thinking")
#: The ``GenerationConfig`` fields that shape the sampled distribution (transformers' warpers).
SAMPLING_FIELDS = (
    "temperature", "top_k", "top_p", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff", "top_h",
)  # fmt: skip
#: Seeds are taken modulo 2**64, the range ``torch.Generator.manual_seed`` accepts.
SEED_RANGE = 2**64
_PROBE = [{"role": "user", "content": "hello"}]


def _import(name: str) -> Any:
    """Import an optional module by name; mypy never reads torch or transformers this way."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise MissingExtraError("the hf provider (local models)", "local") from error


@dataclass(frozen=True)
class _Prompt:
    """One conversation rendered by the chat template, and what the rendering did."""

    ids: tuple[int, ...]
    opens_think: bool
    template_kwargs: dict[str, Any]


@dataclass(eq=False)
class _Row:
    """One sample to generate; unseeded rows whose :attr:`key` is equal may share a batch, a seeded
    row (``seed`` not None: the request's seed plus the row's index) runs alone."""

    prompt: _Prompt
    decoding: Decoding
    seed: int | None
    future: asyncio.Future[Completion]

    @property
    def key(self) -> tuple[Any, ...]:
        d = self.decoding
        return (d.temperature, d.top_p, d.top_k, d.max_tokens, self.seed)


@dataclass
class _Loaded:
    """The model and what was learned about it once, at load time."""

    model: Any
    tokenizer: Any
    template_variables: frozenset[str]
    stop_ids: frozenset[int]
    dropped_ids: frozenset[int]
    close_id: int | None
    pad_id: int
    context: int | None


@dataclass
class _Serving:
    """The queue and batcher of one event loop (a provider may be used by several asyncio.run)."""

    loop: asyncio.AbstractEventLoop
    waiting: collections.deque[_Row] = field(default_factory=collections.deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    running: list[_Row] = field(default_factory=list)
    loading: asyncio.Future[_Loaded] | None = None
    batcher: asyncio.Task[None] | None = None


class LocalHF(Provider):
    """A ``transformers`` causal LM on this machine, batched across concurrent calls."""

    name = "hf"
    supports_n = True

    def __init__(
        self,
        model: str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        device: str | None = None,
        dtype: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        if batch_size < 1 or max_tokens < 1:
            raise ValueError("batch_size and max_tokens must be at least 1")
        self.model = model
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.trust_remote_code = trust_remote_code
        self._torch = _import("torch")
        self._transformers = _import("transformers")
        self.device = device or ("cuda" if self._torch.cuda.is_available() else "cpu")
        self.dtype = dtype or _default_dtype(self._torch, self.device)
        #: How many batches of each size ran: shows whether concurrent calls really share batches.
        self.batch_sizes: collections.Counter[int] = collections.Counter()
        self._loaded: _Loaded | None = None
        self._serving: _Serving | None = None

    async def complete(self, request: Request) -> list[Completion]:
        serving = self._serving_here()
        loaded = await self._ensure_loaded(serving)
        prompt = self._prompt(loaded, request)
        seed = request.decoding.seed
        rows = [
            _Row(prompt, request.decoding, _row_seed(seed, index), serving.loop.create_future())
            for index in range(request.n)
        ]
        serving.waiting.extend(rows)
        serving.wakeup.set()
        if serving.batcher is None or serving.batcher.done():
            serving.batcher = asyncio.ensure_future(self._serve(serving))
        results = await asyncio.gather(*(row.future for row in rows), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [result for result in results if isinstance(result, Completion)]

    async def aclose(self) -> None:
        """Stop the batcher and free the model (a later call loads it again)."""
        serving, self._serving = self._serving, None
        if serving is not None:
            pending = [*serving.running, *serving.waiting]  # before cancelling clears them
            if serving.batcher is not None:
                serving.batcher.cancel()
                await asyncio.gather(serving.batcher, return_exceptions=True)
            for row in pending:
                if not row.future.done():
                    row.future.set_exception(TransientError("the hf provider was closed"))
        self._loaded = None
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()

    # ------------------------------------------------------------------ loading

    def _serving_here(self) -> _Serving:
        loop = asyncio.get_running_loop()
        if self._serving is None or self._serving.loop is not loop:
            self._serving = _Serving(loop)
        return self._serving

    async def _ensure_loaded(self, serving: _Serving) -> _Loaded:
        if self._loaded is not None:
            return self._loaded
        if serving.loading is None:  # one load, awaited by every call that comes meanwhile
            serving.loading = asyncio.ensure_future(asyncio.to_thread(self._load))
        self._loaded = await asyncio.shield(serving.loading)
        return self._loaded

    def _load(self) -> _Loaded:
        """Load tokenizer and model (in a worker thread); any failure stops the run."""
        source = _model_source(self.model)
        auto = self._transformers
        options = {"local_files_only": _offline(), "trust_remote_code": self.trust_remote_code}
        try:
            tokenizer = auto.AutoTokenizer.from_pretrained(source, **options)
            dtype = "auto" if self.dtype == "auto" else getattr(self._torch, self.dtype)
            model = auto.AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **options)
            model.to(self.device).eval()
            template = tokenizer.get_chat_template()
        except Exception as error:  # any of the many ways a checkpoint fails to load
            raise FatalError(f"cannot load model {self.model!r}: {_first_line(error)}") from error
        return _describe(model, tokenizer, template)

    # ------------------------------------------------------------------ prompts

    def _prompt(self, loaded: _Loaded, request: Request) -> _Prompt:
        """Render the conversation; a template that refuses it would refuse every item."""
        kwargs = self._template_kwargs(loaded, request.decoding)
        messages = [message.as_dict() for message in request.messages]
        try:
            text = _render(loaded.tokenizer, messages, kwargs, generation_prompt=True)
            opens = _opens_think(loaded.tokenizer, kwargs)
        except Exception as error:  # jinja2 errors, raise_exception() in the template
            raise FatalError(
                f"the chat template of {self.model} refused the conversation: {_first_line(error)}"
            ) from error
        ids = tuple(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])
        budget = request.decoding.max_tokens or self.max_tokens
        if loaded.context is not None and len(ids) + budget > loaded.context:
            raise ContextOverflow(
                f"{len(ids)} prompt tokens + {budget} new tokens exceed the model's context "
                f"of {loaded.context} tokens"
            )
        return _Prompt(ids, opens, kwargs)

    def _template_kwargs(self, loaded: _Loaded, decoding: Decoding) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            name: True for name in THINKING_SWITCHES if name in loaded.template_variables
        }
        if decoding.reasoning_effort and "reasoning_effort" in loaded.template_variables:
            kwargs["reasoning_effort"] = decoding.reasoning_effort
        extra = decoding.extra_body.get("chat_template_kwargs")
        if isinstance(extra, dict):
            kwargs.update(extra)
        return kwargs

    # ------------------------------------------------------------------ batching

    async def _serve(self, serving: _Serving) -> None:
        while True:
            if not serving.waiting:
                serving.wakeup.clear()
                await serving.wakeup.wait()
                await asyncio.sleep(0)  # let the calls started in this same tick join the batch
            batch = _take_batch(serving.waiting, self.batch_size)
            if batch:
                await self._run_batch(serving, batch)

    async def _run_batch(self, serving: _Serving, batch: list[_Row]) -> None:
        loaded = self._loaded
        outcome: list[Completion] | BaseException
        serving.running = batch
        try:
            if loaded is None:  # closed meanwhile
                raise TransientError("the hf provider was closed")
            budget = batch[0].decoding.max_tokens or self.max_tokens
            generated = await asyncio.to_thread(self._generate, loaded, batch, budget)
            self.batch_sizes[len(batch)] += 1
            outcome = [
                self._completion(loaded, row, ids, budget, len(batch))
                for row, ids in zip(batch, generated, strict=True)
            ]
        except Exception as error:
            outcome = self._out_of_memory(len(batch)) if self._is_oom(error) else error
        finally:
            serving.running = []
        for row, result in zip(batch, _spread(outcome, len(batch)), strict=True):
            if not row.future.done():  # done: the caller timed out or was cancelled
                _settle(row.future, result)

    def _generate(self, loaded: _Loaded, batch: list[_Row], budget: int) -> list[list[int]]:
        """Run one batch in a worker thread: left-padded prompts, one ``generate`` call, the new
        tokens of each row. Only tensors here: the tokenizer stays on the event loop's thread,
        since a fast tokenizer used from two threads at once fails ("Already borrowed")."""
        torch = self._torch
        width = max(len(row.prompt.ids) for row in batch)
        input_ids = torch.full((len(batch), width), loaded.pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for i, row in enumerate(batch):
            ids = row.prompt.ids
            input_ids[i, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[i, width - len(ids) :] = 1
        with torch.inference_mode():
            output = loaded.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                max_new_tokens=budget,
                pad_token_id=loaded.pad_id,
                **self._decoding_arguments(loaded, batch),
            )
        generated: list[list[int]] = output[:, width:].tolist()
        return generated

    def _decoding_arguments(self, loaded: _Loaded, batch: list[_Row]) -> dict[str, Any]:
        """``generate``'s sampling arguments: its own sampling for unseeded rows; for seeded rows,
        greedy decoding over the tokens :class:`_RowSampler` draws with each row's generator."""
        decoding = batch[0].decoding
        seeds = [row.seed for row in batch if row.seed is not None]
        if not decoding.temperature or len(seeds) < len(batch):
            return _sampling(decoding)
        warpers = _warpers(self._transformers, loaded.model, decoding)
        sampler = _RowSampler(self._torch, warpers, seeds)
        processors = self._transformers.LogitsProcessorList([sampler])
        return {"do_sample": False, "logits_processor": processors}

    def _completion(
        self, loaded: _Loaded, row: _Row, ids: list[int], budget: int, batch_rows: int
    ) -> Completion:
        reply, stopped = _until_stop(ids, loaded.stop_ids)
        text = loaded.tokenizer.decode(
            [t for t in reply if t not in loaded.dropped_ids], skip_special_tokens=False
        )
        finish = "stop" if stopped or len(reply) < budget else "length"
        split = _split(text, row.prompt.opens_think, finish == "length")
        usage = Usage(
            prompt_tokens=len(row.prompt.ids),
            completion_tokens=len(reply),
            reasoning_tokens=_reasoning_tokens(reply, loaded.close_id, split),
        )
        raw = {
            "provider": self.name,
            "model": self.model,
            "text": text,
            "finish_reason": finish,
            "think_opened_in_prompt": row.prompt.opens_think,
            "chat_template_kwargs": row.prompt.template_kwargs,
            "batch_rows": batch_rows,
            "seed": row.seed,
            "device": self.device,
            "dtype": self.dtype,
        }
        return Completion(
            split.answer, split.reasoning, split.source, finish, split.truncated, usage, raw
        )

    # ------------------------------------------------------------------ memory

    def _is_oom(self, error: BaseException) -> bool:
        oom = getattr(self._torch.cuda, "OutOfMemoryError", None)
        if oom is not None and isinstance(error, oom):
            return True
        return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()

    def _out_of_memory(self, rows: int) -> ProviderError:
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()
        if rows > 1:
            self.batch_size = max(1, min(self.batch_size, rows // 2))
            return TransientError(
                f"out of memory generating {rows} sequences at once; batch size lowered to "
                f"{self.batch_size} (start with a lower batch size to avoid this)"
            )
        if sum(self.batch_sizes.values()):
            return ContextOverflow("out of memory generating one sequence; lower --max-tokens")
        return FatalError(
            f"out of memory generating a single sequence with {self.model}: use a smaller model, "
            "a lower --max-tokens, or a device with more memory"
        )


# ---------------------------------------------------------------------- helpers


def _default_dtype(torch: Any, device: str) -> str:
    """bfloat16 on GPUs that have it, float16 on older ones, float32 on CPU (where half precision
    is slow or unsupported)."""
    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float32"


def _offline() -> bool:
    """Whether the user said "no network": then a hub id must already be in the local cache."""
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    return any(os.environ.get(n, "").strip().lower() in {"1", "true", "yes", "on"} for n in names)


def _model_source(model: str) -> str:
    """A folder, or a hub id (``org/name``); a path-like name that is missing stops the run."""
    path = Path(model).expanduser()
    if path.exists():
        return str(path)
    if model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1:
        raise FatalError(f"no model folder at {model}")
    return model


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _describe(model: Any, tokenizer: Any, template: str) -> _Loaded:
    """What decoding needs to know about a freshly loaded tokenizer and model."""
    added = tokenizer.get_added_vocab()
    think_ids = {added[tag] for tag in (OPEN_TAG, CLOSE_TAG) if tag in added}
    special = {i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
    special |= set(tokenizer.all_special_ids)
    stop = _ids(model.generation_config.eos_token_id) | _ids(tokenizer.eos_token_id)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(stop, default=0)
    return _Loaded(
        model=model,
        tokenizer=tokenizer,
        template_variables=template_variables(template),
        stop_ids=frozenset(stop),
        dropped_ids=frozenset((special - think_ids) | stop | {pad}),
        close_id=added.get(CLOSE_TAG),
        pad_id=pad,
        context=getattr(model.config, "max_position_embeddings", None),
    )


def _ids(value: object) -> set[int]:
    if isinstance(value, int):
        return {value}
    if isinstance(value, (list, tuple)):
        return {v for v in value if isinstance(v, int)}
    return set()


def template_variables(template: str) -> frozenset[str]:
    """The names a chat template reads from outside (jinja2's free variables): how thinking support
    is found. ``{% generation %}`` blocks (transformers' own tag) are removed first; a template
    jinja2 cannot parse falls back to every identifier in it, which can only add switches that the
    template then ignores."""
    jinja2 = _import("jinja2")
    meta = _import("jinja2.meta")
    plain = re.sub(r"\{%-?\s*(end)?generation\s*-?%\}", "", template)
    try:
        tree = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"]).parse(plain)
        return frozenset(meta.find_undeclared_variables(tree))
    except jinja2.TemplateError:
        return frozenset(re.findall(r"[A-Za-z_]\w*", template))


def _render(
    tokenizer: Any, messages: list[dict[str, str]], kwargs: dict[str, Any], generation_prompt: bool
) -> str:
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=generation_prompt, **kwargs
    )
    return str(text)


def _opens_think(tokenizer: Any, kwargs: dict[str, Any]) -> bool:
    """Whether the generation prompt leaves a think block open (the reply starts inside it): the
    text that ``add_generation_prompt`` adds to a probe conversation opens ``<think>`` last."""
    full = _render(tokenizer, _PROBE, kwargs, generation_prompt=True)
    bare = _render(tokenizer, _PROBE, kwargs, generation_prompt=False)
    added = full[len(bare) :] if full.startswith(bare) else full[-200:]
    return added.rfind(OPEN_TAG) > added.rfind(CLOSE_TAG)


def _sampling(decoding: Decoding) -> dict[str, Any]:
    if not decoding.temperature:
        return {"do_sample": False}
    arguments: dict[str, Any] = {"do_sample": True, "temperature": decoding.temperature}
    if decoding.top_p is not None:
        arguments["top_p"] = decoding.top_p
    if decoding.top_k is not None:
        arguments["top_k"] = decoding.top_k
    return arguments


def _row_seed(seed: int | None, index: int) -> int | None:
    """Row ``index`` of a request seeded ``seed`` samples as a request seeded ``seed + index``."""
    return None if seed is None else (seed + index) % SEED_RANGE


def _warpers(transformers: Any, model: Any, decoding: Decoding) -> Any:
    """The warpers ``generate`` applies when it samples with ``decoding`` (temperature, top_k, top_p,
    and the model's own min_p and the like), built by transformers itself, in its order, from a
    config that holds only the sampling fields: the other processors (repetition penalty, ...)
    ``generate`` applies itself, before the sampler, as it does when it samples. The builder is
    private to transformers, but it is the one place that knows the warpers and their order."""
    merged = copy.deepcopy(model.generation_config)
    merged.update(**_sampling(decoding))
    fields = {name: getattr(merged, name) for name in SAMPLING_FIELDS if hasattr(merged, name)}
    config = transformers.GenerationConfig(**fields, do_sample=True)
    return model._get_logits_processor(generation_config=config, device=model.device)


class _RowSampler:
    """A logits processor that draws each row's next token from the warped distribution with the
    row's own generator, and leaves that token alone at 0 and every other at -inf, so the greedy
    step of ``generate`` that follows picks it. A row's draws then depend on its seed and its
    logits only; a finished row keeps drawing, which ``generate`` overwrites with padding."""

    def __init__(self, torch: Any, warpers: Any, seeds: list[int]) -> None:
        self._torch = torch
        self._warpers = warpers
        self._seeds = seeds
        self._generators: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        torch = self._torch
        if not self._generators:  # on the device the scores are on, known from the first step
            self._generators = [
                torch.Generator(device=scores.device).manual_seed(seed) for seed in self._seeds
            ]
        probs = torch.softmax(self._warpers(input_ids, scores), dim=-1)
        drawn = [
            torch.multinomial(row, 1, generator=generator)
            for row, generator in zip(probs, self._generators, strict=True)
        ]
        chosen = torch.full_like(scores, -float("inf"))
        return chosen.scatter_(1, torch.stack(drawn), 0.0)


def _take_batch(waiting: collections.deque[_Row], size: int) -> list[_Row]:
    """Up to ``size`` live rows with the oldest row's sampling settings, in arrival order (a seeded
    row alone); rows whose caller gave up are dropped, the others keep their places."""
    live = [row for row in waiting if not row.future.done()]
    if live and live[0].seed is not None:
        size = 1
    batch = [row for row in live if row.key == live[0].key][:size] if live else []
    chosen = {id(row) for row in batch}
    waiting.clear()
    waiting.extend(row for row in live if id(row) not in chosen)
    return batch


def _spread(
    outcome: list[Completion] | BaseException, rows: int
) -> list[Completion | BaseException]:
    """One result per row: its completion, or the batch's error."""
    if isinstance(outcome, BaseException):
        return [outcome] * rows
    return list(outcome)


def _settle(future: asyncio.Future[Completion], result: Completion | BaseException) -> None:
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _until_stop(ids: list[int], stop_ids: frozenset[int]) -> tuple[list[int], bool]:
    """The generated tokens up to and including the first stop token (the rest is padding)."""
    for index, token in enumerate(ids):
        if token in stop_ids:
            return ids[: index + 1], True
    return ids, False


def _split(text: str, opens_think: bool, cut: bool) -> Split:
    if opens_think and CLOSE_TAG not in text.lower():
        text = OPEN_TAG + text  # the reply never left the think block the prompt opened
    return split_content(text, cut)


def _reasoning_tokens(reply: list[int], close_id: int | None, split: Split) -> int | None:
    if split.source == "none":
        return 0
    if close_id is not None and close_id in reply:
        return reply.index(close_id) + 1
    if split.source == "think_unterminated":
        return len(reply)
    return None
