"""What a run has spent so far: tokens in, cached and out, and their cost, model and judges apart.

Input tokens as every provider reports them include the cached ones (read from the prompt cache,
billed at the cached-input price) and, for Anthropic, those written to the cache (billed at 1.25
times the input price); the rest are billed at the input price. A stage without a known price
shows its tokens and "no prices", never $0.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bsa.costs.prices import (
    PRICES_META,
    Price,
    PriceFlags,
    PriceTable,
    merged_json,
    model_label,
    price_of,
    stored_prices,
)
from bsa.runfile.store import RunStore
from bsa.runfile.usage import StageUsage, judge_usage, model_usage

#: Anthropic bills a token written to the prompt cache at this multiple of the input price.
CACHE_WRITE_FACTOR = 1.25
PER_MILLION = 1_000_000


def cost_usd(usage: StageUsage, price: Price) -> float:
    """``usage`` billed at ``price``."""
    uncached = max(0, usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens)
    total = (
        uncached * price.input
        + usage.cached_tokens * price.cached
        + usage.cache_write_tokens * price.input * CACHE_WRITE_FACTOR
        + usage.output_tokens * price.output
    )
    return total / PER_MILLION


def stage_json(name: str, usage: StageUsage, price: Price | None) -> dict[str, Any]:
    """One stage's tokens and cost (``cost_usd`` None without a price)."""
    return {
        "name": name,
        "calls": usage.calls,
        "input_tokens": usage.input_tokens,
        "cached_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "output_tokens": usage.output_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "price": None if price is None else price.as_json(),
        "cost_usd": None if price is None else round(cost_usd(usage, price), 6),
    }


def run_spending(run_path: Path, flags: PriceFlags | None = None) -> dict[str, Any]:
    """The run's spending so far: ``model``, ``judges`` (one entry each) and ``total_cost_usd``
    (None unless every stage that spent tokens has a price). Prices are the run file's record
    with what ``flags`` (a reading command's) give over it."""
    with RunStore(run_path, read_only=True) as store:
        model = store.info().model
        model = model and model_label(model)
        judges = judge_usage(store)
        stages = [("model", model, model_usage(store))]
        stages += [("judge", judge, usage) for judge, usage in judges.items()]
        prices = stored_prices(store.get_meta(PRICES_META))
    if flags is not None:
        prices.update(flags.table(model, judges))
    return spending_json(stages, prices)


def spending_json(
    stages: list[tuple[str, str | None, StageUsage]], prices: Mapping[str, Price]
) -> dict[str, Any]:
    entries = [
        (role, stage_json(name or "", usage, price_of(prices, name) if name else None))
        for role, name, usage in stages
    ]
    costs = [entry["cost_usd"] for _, entry in entries if entry["calls"]]
    priced = bool(costs) and all(cost is not None for cost in costs)
    return {
        "model": entries[0][1],
        "judges": [entry for role, entry in entries if role == "judge"],
        "total_cost_usd": round(sum(costs), 6) if priced else None,
    }


def spending_lines(spending: Mapping[str, Any]) -> list[str]:
    """The terminal lines: one per stage, then the total."""
    stages = [("model", spending["model"])]
    stages += [("judge", judge) for judge in spending["judges"]]
    lines = [f"{role} {entry['name']}: {_tokens_text(entry)}" for role, entry in stages]
    lines.append(_total_line(spending["total_cost_usd"], stages))
    return lines


def _total_line(total: float | None, stages: list[tuple[str, Mapping[str, Any]]]) -> str:
    """The total, or what the priced stages cost and which stages have no price (never a
    partial sum shown as if it were the whole)."""
    if total is not None:
        return f"cost so far: {money(total)}"
    priced = [entry["cost_usd"] for _, entry in stages if entry["cost_usd"] is not None]
    unpriced = [f"{role} {entry['name']}" for role, entry in stages
                if entry["cost_usd"] is None and entry["calls"]]  # fmt: skip
    known = f"{money(sum(priced))} for the priced stages; " if priced else ""
    return (
        f"cost so far: {known}no prices for {', '.join(unpriced) or 'any stage'} (give "
        "--price-in/--price-out, --judge-price-in/--judge-price-out or --prices)"
    )


def _tokens_text(entry: Mapping[str, Any]) -> str:
    cost = entry["cost_usd"]
    cached = f", {entry['cached_tokens']:,} cached" if entry["cached_tokens"] else ""
    written = (
        f", {entry['cache_write_tokens']:,} written to cache" if entry["cache_write_tokens"] else ""
    )
    return (
        f"{entry['calls']:,} calls, {entry['input_tokens']:,} tokens in{cached}{written}, "
        f"{entry['output_tokens']:,} out: {'no prices' if cost is None else money(cost)}"
    )


def money(value: float) -> str:
    """US dollars, with cents (and more digits below a dollar, where cents would read as $0)."""
    return f"${value:,.2f}" if value >= 1 or value == 0 else f"${value:.4f}"


def record_prices(run_path: Path, prices: PriceTable) -> None:
    """Add ``prices`` to the run file's record (over what it held), so reading commands show
    cost without the flags. The caller holds the run's lock."""
    if not prices:
        return
    with RunStore(run_path) as store:
        store.set_meta(PRICES_META, merged_json(store.get_meta(PRICES_META), prices))
