"""The upstream Batch_Call_LLM YAML config (sections ``model``, ``runtime``, ``io``), read strictly.

Users of the upstream scripts can point ``bsa generate --config`` at the file they already have.
Unknown keys are errors (a typo must not silently fall back to a default), keys that have no
meaning here are named in a notice, and the ``api_key`` it may hold is used for the call only:
never stored, never printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bsa.data.dataset import not_utf8
from bsa.errors import BsaError

PLACEHOLDER_KEYS = frozenset({"", "YOUR_API_KEY", "sk-xxx", "EMPTY"})


class _Section(BaseModel):
    # YAML reads .nan and .inf as floats; a NaN temperature must not reach the endpoint.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ModelSection(_Section):
    model_name: str
    api_key: str | None = Field(default=None, repr=False)
    base_url: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    system_prompt: str | None = None


class RuntimeSection(_Section):
    max_concurrent: int | None = Field(default=None, ge=1)
    retry_times: int | None = Field(default=None, ge=0)
    retry_delay: float | None = Field(default=None, ge=0)
    save_interval: int | None = None  # upstream checkpoint cadence; bsa commits every result
    log_level: str | None = None


class IoSection(_Section):
    input_file: Path | None = None
    output_file: Path | None = None
    checkpoint_dir: Path | None = None


class UpstreamConfig(_Section):
    model: ModelSection
    runtime: RuntimeSection = RuntimeSection()
    io: IoSection = IoSection()

    @property
    def api_key(self) -> str | None:
        key = (self.model.api_key or "").strip()
        return None if key in PLACEHOLDER_KEYS else key

    @property
    def ignored(self) -> list[str]:
        """Keys that mean nothing here, for a one-line notice."""
        return [
            f"runtime.{key}"
            for key in ("save_interval", "log_level")
            if getattr(self.runtime, key) is not None
        ]


def load_upstream_config(path: Path) -> UpstreamConfig:
    """Read and validate the YAML file; relative ``io`` paths are taken from the file's folder,
    as the upstream script (run from its own folder) would."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BsaError(f"cannot read config {path}: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise BsaError(not_utf8(path, "config file", error)) from error
    except yaml.YAMLError as error:
        raise BsaError(f"{path}: not valid YAML ({_yaml_problem(error)})") from None
    if not isinstance(data, dict):
        raise BsaError(f"{path}: expected the upstream layout with sections model, runtime, io")
    try:
        config = UpstreamConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BsaError(f"{path}: {where}: {first['msg']}") from None
    return _relative_to(config, path.parent)


def _relative_to(config: UpstreamConfig, folder: Path) -> UpstreamConfig:
    io = config.io.model_copy(
        update={
            name: folder / value
            for name in ("input_file", "output_file", "checkpoint_dir")
            if (value := getattr(config.io, name)) is not None and not value.is_absolute()
        }
    )
    return config.model_copy(update={"io": io})


def _yaml_problem(error: yaml.YAMLError) -> str:
    """What is wrong and where, without the quoted line PyYAML adds: the line may be
    ``api_key: …``, and the key must not reach the terminal."""
    problem = getattr(error, "problem", None) or "cannot parse"
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"
