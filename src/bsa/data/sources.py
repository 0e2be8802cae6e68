"""Where the benchmark files come from: an offline folder, the user cache, or the pinned upstream.

Every official file is pinned by upstream commit and sha256 (shared/bsa/README.md), so a run is
reproducible and a corrupted or tampered copy is refused rather than graded against. The order of
precedence for each file is:

1. ``$BSA_DATA_DIR`` (a folder laid out like upstream's release: ``dataset.csv``, ``prompts/*.md``),
   for offline machines, translations and extensions: a file there that differs from the official
   release is used, with a notice;
2. the user cache (``$BSA_CACHE_DIR``, else the platform's user cache dir), verified on every read;
3. the pinned upstream commit, downloaded, verified, then moved into the cache atomically.

An explicit ``--dataset PATH`` outranks all three for the dataset; that lives in :mod:`bsa.data.dataset`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import platformdirs

from bsa.errors import IntegrityError, SourceError

UPSTREAM_REPO = "OpenStellarTeam/BSA"
UPSTREAM_COMMIT = "b54c09fb8c8fdc0d568bdaff89ff0a46149ab094"
DEFAULT_UPSTREAM_URL = "https://raw.githubusercontent.com/OpenStellarTeam/BSA"

DATA_DIR_ENV = "BSA_DATA_DIR"
CACHE_DIR_ENV = "BSA_CACHE_DIR"
#: Base URL of the raw-file server; a mirror, or a loopback server in tests.
UPSTREAM_URL_ENV = "BSA_UPSTREAM_URL"

DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 16


@dataclass(frozen=True)
class Asset:
    """One official benchmark file: where it lives in a data folder and upstream, and its hash."""

    name: str
    upstream_path: str
    sha256: str


DATASET = Asset(
    "dataset.csv",
    "data/dataset.csv",
    "c1e26c30d0a0c8013d986aeb84b63c4b592387a92c52c70fd79b2796678eef3c",
)
SAFE_ANSWER_JUDGE = Asset(
    "prompts/Safe_Ans_Judge.md",
    "Prompt/Safe_Ans_Judge.md",
    "7c72e39dde166756f7ce6dbdf07cbe2855f679e1d5e20689ebc7600ecd9041b1",
)
THINKING_JUDGE = Asset(
    "prompts/Thinking_Accuracy_Judge.md",
    "Prompt/Thinking_Accuracy_Judge.md",
    "1bcfe0906882a85f0f37f199626af64b5371e661c658833d2f993e0a5f6e13cf",
)
SAFETY_RULES = Asset(
    "prompts/Safe_Rules.md",
    "Prompt/Safe_Rules.md",
    "f8220589d42357decd92aa762cc773aa3352dc365d13abc352b4578733a30903",
)
ASSETS: tuple[Asset, ...] = (DATASET, SAFE_ANSWER_JUDGE, THINKING_JUDGE, SAFETY_RULES)


@dataclass(frozen=True)
class ResolvedFile:
    """A benchmark file on disk, where it came from, and whether it is the official release."""

    path: Path
    origin: str  # "path", "data_dir", "cache" or "download"
    sha256: str
    official: bool

    @property
    def notice(self) -> str | None:
        """One line for the user when a local file is not the official release."""
        if self.official:
            return None
        return (
            f"notice: {self.path} differs from the official BSA release "
            f"(sha256 {self.sha256[:12]}…); using it as given, and runs record its hash"
        )


def cache_dir() -> Path:
    """The folder that holds verified downloads, one subfolder per upstream commit."""
    override = os.environ.get(CACHE_DIR_ENV)
    base = Path(override) if override else Path(platformdirs.user_cache_dir("bsa-bench"))
    return base / UPSTREAM_COMMIT


def upstream_url(asset: Asset) -> str:
    """Where downloads fetch ``asset`` from: the mirror in ``$BSA_UPSTREAM_URL``, if any."""
    base = os.environ.get(UPSTREAM_URL_ENV) or DEFAULT_UPSTREAM_URL
    return f"{base.rstrip('/')}/{UPSTREAM_COMMIT}/{asset.upstream_path}"


def canonical_url(asset: Asset) -> str:
    """The public pinned URL of ``asset``, for metadata that others will read (never a mirror)."""
    return f"{DEFAULT_UPSTREAM_URL}/{UPSTREAM_COMMIT}/{asset.upstream_path}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve(asset: Asset) -> ResolvedFile:
    """Find ``asset`` by the order of precedence above, downloading it if nothing local has it."""
    data_dir = os.environ.get(DATA_DIR_ENV)
    if data_dir:
        return _from_data_dir(Path(data_dir), asset)
    cached = cache_dir() / asset.name
    if cached.is_file():
        return _verified(cached, asset, origin="cache")
    return download(asset)


def _from_data_dir(folder: Path, asset: Asset) -> ResolvedFile:
    path = folder / asset.name
    if not path.is_file():
        raise SourceError(
            f"{DATA_DIR_ENV}={folder} has no {asset.name}; the folder must be laid out like the "
            "upstream release (dataset.csv, prompts/*.md), or unset the variable to download"
        )
    digest = sha256_file(path)
    return ResolvedFile(path, "data_dir", digest, official=digest == asset.sha256)


def _verified(path: Path, asset: Asset, origin: str) -> ResolvedFile:
    digest = sha256_file(path)
    if digest != asset.sha256:
        raise IntegrityError(
            f"cached {path} fails its sha256 check (expected {asset.sha256[:12]}…, got "
            f"{digest[:12]}…): it was changed or corrupted; run 'bsa data download --refresh'"
        )
    return ResolvedFile(path, origin, digest, official=True)


def download(asset: Asset, *, refresh: bool = False) -> ResolvedFile:
    """Fetch ``asset`` from the pinned commit into the cache, verified before it becomes visible.

    The bytes go to a temporary file beside the target and are renamed into place only after the
    sha256 matches, so an interrupted or tampered download never leaves a cached file behind.
    """
    target = cache_dir() / asset.name
    if target.is_file() and not refresh:
        return _verified(target, asset, origin="cache")
    target.parent.mkdir(parents=True, exist_ok=True)
    url = upstream_url(asset)
    handle, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".part"
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            digest = _fetch(url, out)
            out.flush()
            os.fsync(out.fileno())
        if digest != asset.sha256:
            raise IntegrityError(
                f"download of {url} fails its sha256 check (expected {asset.sha256[:12]}…, got "
                f"{digest[:12]}…); nothing was cached. Set {DATA_DIR_ENV} to a folder with the "
                "official files to work offline"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return ResolvedFile(target, "download", digest, official=True)


def _fetch(url: str, out: BinaryIO) -> str:
    """Stream ``url`` into ``out`` and return the sha256 of what was written."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as error:
        raise SourceError(f"could not download {url}: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SourceError(
            f"could not download {url}: {reason}; set {DATA_DIR_ENV} to a folder with the "
            "official files to work offline"
        ) from error
    return digest.hexdigest()
