"""Fetch the benchmark from a Hugging Face Hub dataset repo, for ``--dataset hf:REPO[@REVISION]``.

The Hub repo (``OpenStellarTeam/BeyongSafeAnswer_Benchmark``) does not promise a file name, so the
repo's files are listed at the requested revision and the one data file is picked by rule (see
:func:`choose_data_file`); only that file is downloaded, into the user's Hugging Face cache.

``huggingface_hub`` is an optional extra, imported only when a ``hf:`` dataset is asked for. The
user's own settings (``HF_ENDPOINT``, ``HF_TOKEN``, ``HF_HOME``, ``HF_HUB_OFFLINE``...) are left for
``huggingface_hub`` to read: nothing here passes an endpoint, token or cache folder.

Runs record the commit the file came from, read from the cache's snapshot folder
(``.../snapshots/<commit>/<file>``, the layout documented by ``hf_hub_download``), so that a moving
branch such as ``main`` is still reproducible. When the Hub cannot be reached, or ``HF_HUB_OFFLINE``
is set, a copy cached by an earlier run is used, as other Hugging Face tools do.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bsa.errors import MissingExtraError, SourceError

DATA_SUFFIXES: tuple[str, ...] = (".csv", ".jsonl", ".parquet")
PREFERRED_STEM = "dataset"
PREFERRED_FOLDER = "data"
EXAMPLE_REPO = "OpenStellarTeam/BeyongSafeAnswer_Benchmark"
MAX_LISTED = 10
LOCAL_ALTERNATIVE = "download the file and use --dataset PATH (or drop hf: and set BSA_DATA_DIR)"


class _Unreachable(Exception):
    """The Hub could not be asked (offline mode, network, server error): try the cache instead."""

    def __init__(self, reason: str, offline: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offline = offline


@dataclass(frozen=True)
class HubRef:
    """A dataset repo and an optional revision (branch, tag or commit), as written after ``hf:``."""

    repo_id: str
    revision: str | None

    @classmethod
    def parse(cls, spec: str) -> HubRef:
        """Split ``REPO[@REVISION]``; repo ids cannot hold ``@``, revisions can hold ``/``."""
        repo_id, at, revision = spec.strip().partition("@")
        if not repo_id or (at and not revision):
            raise SourceError(
                f"hf:{spec}: expected hf:REPO or hf:REPO@REVISION, e.g. hf:{EXAMPLE_REPO}"
            )
        return cls(repo_id, revision or None)

    def __str__(self) -> str:
        return f"hf:{self.repo_id}" + (f"@{self.revision}" if self.revision else "")

    def location(self, commit: str, filename: str) -> str:
        return f"hf:{self.repo_id}@{commit}/{filename}"


def download_hf_dataset(spec: str) -> tuple[Path, str]:
    """Fetch the data file of the Hub dataset ``spec`` (``REPO[@REVISION]``) into the Hugging Face
    cache; return its local path and a location naming the commit, for run records."""
    ref = HubRef.parse(spec)
    _require_huggingface_hub()
    try:
        filename = choose_data_file(_list_files(ref), str(ref), _tree_url(ref))
        path = _download(ref, filename)
    except _Unreachable as unreachable:
        path, filename = _cached_copy(ref, unreachable)
    return path, ref.location(_snapshot_of(path, filename).name, filename)


def choose_data_file(files: Iterable[str], where: str, browse_url: str = "") -> str:
    """The one data file among a repo's ``files``: the only .csv/.jsonl/.parquet one, else the one
    named ``dataset.*``, else the one under ``data/``; a guess beyond that could grade the wrong
    items, so anything still ambiguous is an error naming the candidates."""
    candidates = sorted(f for f in files if PurePosixPath(f).suffix.lower() in DATA_SUFFIXES)
    if not candidates:
        raise SourceError(f"{where}: no {', '.join(DATA_SUFFIXES)} file in the repo")
    for preferred in (
        candidates,
        [f for f in candidates if PurePosixPath(f).stem.lower() == PREFERRED_STEM],
        [f for f in candidates if PurePosixPath(f).parts[0] == PREFERRED_FOLDER],
    ):
        if len(preferred) == 1:
            return preferred[0]
    shown = ", ".join(candidates[:MAX_LISTED])
    if len(candidates) > MAX_LISTED:
        shown += f" and {len(candidates) - MAX_LISTED} more"
    source = f" from {browse_url}" if browse_url else ""
    raise SourceError(
        f"{where}: several data files, cannot tell which is the benchmark: {shown}; "
        f"download the one you want{source} and use --dataset PATH"
    )


def _require_huggingface_hub() -> None:
    try:
        import huggingface_hub  # noqa: F401
    except ImportError as error:
        raise MissingExtraError("loading a dataset from the Hugging Face Hub", "hf") from error


def _list_files(ref: HubRef) -> list[str]:
    """The repo's file names at the revision; one API call, which also tells a missing repo or
    revision apart from an unreachable Hub."""
    from huggingface_hub import HfApi, constants

    # The client's default is to wait forever; HF_HUB_ETAG_TIMEOUT is the user's metadata timeout.
    timeout = float(getattr(constants, "HF_HUB_ETAG_TIMEOUT", 10))
    try:
        info = HfApi().dataset_info(ref.repo_id, revision=ref.revision, timeout=timeout)
    except Exception as error:
        mapped = _hub_answer(ref, error)
        if mapped is None and isinstance(error, _network_errors()):
            mapped = _Unreachable(f"{_endpoint()}: {_first_line(error)}", offline=False)
        if mapped is None:
            raise
        raise mapped from error
    return [sibling.rfilename for sibling in info.siblings or ()]


def _download(ref: HubRef, filename: str) -> Path:
    """Download ``filename`` at the requested revision (not the listed commit) so that the cache
    records ``refs/<revision>``, which is what lets a later offline run find the copy."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import (  # type: ignore[attr-defined]  # see _hub_answer
        EntryNotFoundError,
        LocalEntryNotFoundError,
    )

    try:
        local = hf_hub_download(ref.repo_id, filename, repo_type="dataset", revision=ref.revision)
    except LocalEntryNotFoundError as error:  # the Hub went away between listing and download
        raise _Unreachable(_first_line(error), offline=False) from error
    except EntryNotFoundError as error:
        raise SourceError(
            f"{ref}: {filename} left the repo while downloading (the revision moved?); try again"
        ) from error
    except Exception as error:
        mapped = _hub_answer(ref, error)
        if mapped is None and isinstance(error, _network_errors()):
            mapped = SourceError(f"{ref}: downloading {filename} failed: {_first_line(error)}")
        if mapped is None:
            raise
        raise mapped from error
    return Path(local)


def _cached_copy(ref: HubRef, unreachable: _Unreachable) -> tuple[Path, str]:
    """The data file of the revision's snapshot in the Hugging Face cache, for offline use."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import LocalEntryNotFoundError  # type: ignore[attr-defined]

    try:
        folder = Path(
            snapshot_download(
                ref.repo_id, repo_type="dataset", revision=ref.revision, local_files_only=True
            )
        )
    except LocalEntryNotFoundError as error:
        raise _not_cached(ref, unreachable) from error
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    if not any(PurePosixPath(f).suffix.lower() in DATA_SUFFIXES for f in files):
        raise _not_cached(ref, unreachable)
    filename = choose_data_file(files, f"{ref} (cached copy in {folder})")
    return folder / filename, filename


def _not_cached(ref: HubRef, unreachable: _Unreachable) -> SourceError:
    if unreachable.offline:
        return SourceError(
            f"{ref}: HF_HUB_OFFLINE is set and the Hugging Face cache has no copy of this dataset; "
            f"unset HF_HUB_OFFLINE to download it, or {LOCAL_ALTERNATIVE}"
        )
    return SourceError(
        f"{ref}: cannot reach the Hugging Face Hub ({unreachable.reason}) and the Hugging Face "
        f"cache has no copy; check the network and HF_ENDPOINT, or {LOCAL_ALTERNATIVE}"
    )


def _hub_answer(ref: HubRef, error: Exception) -> Exception | None:
    """A one-line SourceError for what the Hub answered, _Unreachable when it could not be asked
    or is down, None for anything that is not a Hub error."""
    # Every huggingface_hub from 0.20 on exports these from .utils (0.23's .errors lacks them), but
    # implicitly, hence the type: ignore.
    from huggingface_hub.utils import (  # type: ignore[attr-defined]
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(error, OfflineModeIsEnabled):
        return _Unreachable("HF_HUB_OFFLINE is set", offline=True)
    if isinstance(error, GatedRepoError):
        return SourceError(
            f"{ref}: the dataset is gated; accept its conditions on {_endpoint()} and set HF_TOKEN"
        )
    if isinstance(error, RepositoryNotFoundError):
        return SourceError(
            f"{ref}: no such dataset repo on {_endpoint()} (check the name; if it is private, set "
            "HF_TOKEN)"
        )
    if isinstance(error, RevisionNotFoundError):
        return SourceError(f"{ref}: no revision {ref.revision!r} in the dataset repo")
    if isinstance(error, HFValidationError):
        return SourceError(f"{ref}: not a valid repo id or revision ({_first_line(error)})")
    if isinstance(error, HfHubHTTPError):
        if _is_outage(error):
            return _Unreachable(f"{_endpoint()}: {_first_line(error)}", offline=False)
        return SourceError(f"{ref}: the Hub at {_endpoint()} refused: {_first_line(error)}")
    return None


def _is_outage(error: Exception) -> bool:
    """A 5xx or 429 answer: the Hub is there but not serving, like a network failure."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    return isinstance(status, int) and (status >= 500 or status == 429)


def _network_errors() -> tuple[type[BaseException], ...]:
    """Transport errors of the HTTP client huggingface_hub uses: requests (< 1.0, whose errors are
    OSErrors), httpx (1.x) or httpx2 (2.x); taken from the modules it already imported, so that no
    client is imported here just to name its errors."""
    errors: list[type[BaseException]] = [OSError]
    for name in ("httpx", "httpx2"):
        module = sys.modules.get(name)
        transport_error = getattr(module, "TransportError", None)
        if isinstance(transport_error, type) and issubclass(transport_error, BaseException):
            errors.append(transport_error)
    return tuple(errors)


def _snapshot_of(path: Path, filename: str) -> Path:
    """The ``snapshots/<commit>`` folder holding ``filename`` at ``path``."""
    return path.parents[len(PurePosixPath(filename).parts) - 1]


def _endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def _tree_url(ref: HubRef) -> str:
    return f"{_endpoint()}/datasets/{ref.repo_id}/tree/{ref.revision or 'main'}"


def _first_line(error: BaseException) -> str:
    """The first non-empty line of an error: Hub errors span several lines, ours are one line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
