"""Prices of models, in US dollars per million tokens: from flags, a price file, or the run file.

Prices change and differ by vendor and contract, so bsa ships none: they are given with
``--price-in/--price-out`` (the model), ``--judge-price-in/--judge-price-out`` (every judge) or
``--prices FILE``, a TOML or JSON mapping of model names to prices::

    ["openai:gpt-4o"]            # a provider:model name as given to --model / --judge ...
    in = 2.5
    out = 10.0
    cached-in = 1.25             # optional: input read from the prompt cache (default: in)

    [deepseek-reasoner]          # ... or a bare model name, for any provider
    in = 0.55
    out = 2.19

``generate``, ``judge`` and ``run`` record the prices they are given in the run file (newer over
older), so ``status``, ``score`` and ``report`` show cost without the flags; the flags given to
those reading commands override the record for that reading only.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bsa.errors import BsaError

#: The run file's meta key of the recorded prices.
PRICES_META = "prices"
_FIELDS = {"in": "input", "out": "output", "cached-in": "cached_input"}


@dataclass(frozen=True)
class Price:
    """One model's prices in USD per million tokens."""

    input: float
    output: float
    #: Input read from the provider's prompt cache; None: billed as ``input``.
    cached_input: float | None = None

    @property
    def cached(self) -> float:
        return self.input if self.cached_input is None else self.cached_input

    def as_json(self) -> dict[str, float]:
        stored = {"in": self.input, "out": self.output}
        if self.cached_input is not None:
            stored["cached-in"] = self.cached_input
        return stored


#: Prices by model name (``provider:model`` or a bare model name).
PriceTable = Mapping[str, Price]


def model_label(model: str) -> str:
    """``model`` as providers label themselves, the key prices are recorded and looked up under:
    the bare ``mock`` is ``mock:mock``; a ``provider:model`` is itself. (The rule of
    ``bsa.providers.registry.canonical_model``, kept here so that reading a run's cost imports no
    provider.)"""
    return "mock:mock" if model == "mock" else model


def price_of(table: PriceTable, model: str) -> Price | None:
    """``model``'s price: under its full ``provider:model`` name, else under its bare name."""
    if model in table:
        return table[model]
    bare = model.split(":", 1)[1] if ":" in model else model
    return table.get(bare)


def parse_table(data: object, where: str) -> dict[str, Price]:
    """A price table from parsed TOML or JSON; every problem is one line naming ``where``."""
    if not isinstance(data, Mapping):
        raise BsaError(f"{where}: expected a mapping of model names to prices")
    return {str(model): _parse_price(entry, f"{where}: {model}") for model, entry in data.items()}


def _parse_price(entry: object, where: str) -> Price:
    if not isinstance(entry, Mapping):
        raise BsaError(f"{where}: expected a table with 'in' and 'out' (and 'cached-in')")
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise BsaError(f"{where}: unknown key {unknown[0]!r}; the keys are in, out, cached-in")
    for key in ("in", "out"):
        if key not in entry:
            raise BsaError(f"{where}: '{key}' is missing (USD per million tokens)")
    values = {_FIELDS[key]: _price_value(value, f"{where}.{key}") for key, value in entry.items()}
    return Price(**values)


def _price_value(value: object, where: str) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) < 0:  # type: ignore[arg-type]
        raise BsaError(f"{where}: {value!r} is not a price (a number, 0 or more)")
    return float(value)  # type: ignore[arg-type]


def load_price_file(path: Path) -> dict[str, Price]:
    """The price table in ``path``: JSON for ``.json`` (or a text that opens with ``{``, when the
    name says neither), TOML otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise BsaError(f"cannot read the price file {path}: {error.strerror or error}") from None
    return parse_table(_parsed(path, text), str(path))


def _parsed(path: Path, text: str) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".json" or (suffix != ".toml" and text.lstrip().startswith("{")):
        try:
            return json.loads(text)
        except ValueError as error:
            raise BsaError(f"{path}: not JSON ({error})") from None
    toml = _toml_module(path)
    try:
        return toml.loads(text)
    except toml.TOMLDecodeError as error:
        raise BsaError(f"{path}: not TOML ({error})") from None


def _toml_module(path: Path) -> Any:
    """``tomllib`` (Python 3.11+), else ``tomli`` (its backport), imported by name so the type
    checker of the oldest Python this supports does not look for either."""
    for name in ("tomllib", "tomli"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise BsaError(f"{path}: reading TOML needs Python 3.11 or 'pip install tomli'; or give JSON")


@dataclass(frozen=True)
class PriceFlags:
    """The price flags of one command, as given (None where not given)."""

    price_in: float | None = None
    price_out: float | None = None
    judge_price_in: float | None = None
    judge_price_out: float | None = None
    prices_file: Path | None = None

    def table(self, model: str | None, judges: Iterable[str]) -> dict[str, Price]:
        """The prices these flags give: the file's entries, then the flags' over them (the
        model's for ``model``, the judges' for each of ``judges``)."""
        table = dict(load_price_file(self.prices_file)) if self.prices_file else {}
        own = _flag_price(self.price_in, self.price_out, "--price-in", "--price-out")
        if own is not None and model is not None:
            table[model] = own
        judge = _flag_price(
            self.judge_price_in, self.judge_price_out, "--judge-price-in", "--judge-price-out"
        )
        if judge is not None:
            table.update(dict.fromkeys(judges, judge))
        return table


def _flag_price(
    price_in: float | None, price_out: float | None, name_in: str, name_out: str
) -> Price | None:
    if price_in is None and price_out is None:
        return None
    if price_in is None or price_out is None:
        given, missing = (name_in, name_out) if price_out is None else (name_out, name_in)
        raise BsaError(f"{given} needs {missing} too (USD per million tokens)")
    return Price(price_in, price_out)


def stored_prices(meta: object) -> dict[str, Price]:
    """The prices a run file recorded (its ``prices`` meta); a damaged record reads as none."""
    try:
        return parse_table(meta or {}, "the run file's prices")
    except BsaError:
        return {}


def merged_json(old: object, new: PriceTable) -> dict[str, dict[str, float]]:
    """The record to store: ``old`` (as stored) with ``new`` over it."""
    table = {**stored_prices(old), **new}
    return {model: price.as_json() for model, price in sorted(table.items())}
