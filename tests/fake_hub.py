"""A loopback stand-in for the Hugging Face Hub, for testing ``bsa.data.hub`` without the internet.

It is a real HTTP server (127.0.0.1, ephemeral port, one thread per request) so that the real
``huggingface_hub`` client runs unchanged against it through ``HF_ENDPOINT``. It speaks only what
that client sends for ``bsa.data.hub``:

* ``GET /api/datasets/ORG/NAME[/revision/REV]`` (``HfApi.dataset_info``): JSON with the commit
  ``sha`` and the file list ``siblings``;
* ``HEAD`` and ``GET /datasets/ORG/NAME/resolve/REV/PATH`` (``hf_hub_download``): the file, with the
  headers the client insists on (``X-Repo-Commit``, ``ETag``, ``Content-Length``);
* 404 answers carrying ``X-Error-Code`` ``RepoNotFound``, ``RevisionNotFound`` or
  ``EntryNotFound``, which ``huggingface_hub`` turns into its typed errors.

Anything else (such as the best-effort ``GET /api/agent-harnesses`` that huggingface_hub 2.x makes
once a day) gets a plain 404. Every request is logged, so tests can tell a download from a cache
hit.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote, urlsplit

from .loopback import serve_loopback


@dataclass
class FakeRepo:
    """A dataset repo: commits (sha -> files) and refs (branch or tag -> sha)."""

    repo_id: str
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)

    def commit(self, files: dict[str, bytes], *, ref: str = "main") -> str:
        """Add a commit holding ``files``, point ``ref`` at it, and return its sha."""
        digest = hashlib.sha1(self.repo_id.encode())
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + files[name])
        sha = digest.hexdigest()
        self.commits[sha] = dict(files)
        self.refs[ref] = sha
        return sha

    def resolve(self, revision: str) -> str | None:
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes = b""


class FakeHub:
    """The repos served, and the log of requests received (method, path)."""

    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self.url = ""
        #: When set, every request gets a 503, as during a Hub outage.
        self.outage = False

    def add_dataset(self, repo_id: str) -> FakeRepo:
        repo = FakeRepo(repo_id)
        self.repos[repo_id] = repo
        return repo

    def log(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def count(self, method: str, fragment: str) -> int:
        """How many ``method`` requests had ``fragment`` in their path."""
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and fragment in p)

    def answer(self, method: str, raw_path: str) -> Answer:
        if self.outage:
            return Answer(503, {"Content-Type": "text/plain"}, b"Service Unavailable")
        parts = [unquote(p) for p in urlsplit(raw_path).path.strip("/").split("/")]
        if parts[:2] == ["api", "datasets"] and len(parts) in (4, 6):
            revision = parts[5] if len(parts) == 6 and parts[4] == "revision" else "main"
            return self._info("/".join(parts[2:4]), revision)
        if parts[:1] == ["datasets"] and len(parts) >= 6 and parts[3] == "resolve":
            return self._file("/".join(parts[1:3]), parts[4], "/".join(parts[5:]))
        return _error(404, "NotFound", f"no route {raw_path}")

    def _info(self, repo_id: str, revision: str) -> Answer:
        repo = self.repos.get(repo_id)
        if repo is None:
            return _error(404, "RepoNotFound", "Repository not found")
        sha = repo.resolve(revision)
        if sha is None:
            return _error(404, "RevisionNotFound", "Invalid rev id: " + revision)
        # The fields the real Hub sends that some huggingface_hub versions require (0.20 needs
        # downloads, likes, private and tags), plus the two bsa.data.hub reads: sha and siblings.
        info = {
            "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": sha,
            "lastModified": "2025-05-20T00:00:00.000Z",
            "createdAt": "2025-05-20T00:00:00.000Z",
            "private": False,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": ["format:csv"],
            "cardData": {"license": "cc-by-nc-sa-4.0"},
            "siblings": [{"rfilename": name} for name in sorted(repo.commits[sha])],
        }
        return Answer(200, {"Content-Type": "application/json"}, json.dumps(info).encode())

    def _file(self, repo_id: str, revision: str, filename: str) -> Answer:
        repo = self.repos.get(repo_id)
        if repo is None:
            return _error(404, "RepoNotFound", "Repository not found")
        sha = repo.resolve(revision)
        if sha is None:
            return _error(404, "RevisionNotFound", "Invalid rev id: " + revision)
        content = repo.commits[sha].get(filename)
        if content is None:
            answer = _error(404, "EntryNotFound", f"{filename} does not exist on {revision}")
            answer.headers["X-Repo-Commit"] = sha
            return answer
        headers = {
            "Content-Type": "application/octet-stream",
            "ETag": '"' + hashlib.sha256(content).hexdigest() + '"',
            "X-Repo-Commit": sha,
            "Accept-Ranges": "bytes",
        }
        return Answer(200, headers, content)

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Listen on an ephemeral loopback port for the duration; yield the endpoint URL."""
        with serve_loopback(_handler_for(self)) as root:
            self.url = root
            yield self.url


def _error(status: int, code: str, message: str) -> Answer:
    body = json.dumps({"error": message}).encode()
    headers = {"Content-Type": "application/json", "X-Error-Code": code, "X-Error-Message": message}
    return Answer(status, headers, body)


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._reply(send_body=True)

        def do_HEAD(self) -> None:
            self._reply(send_body=False)

        def _reply(self, *, send_body: bool) -> None:
            hub.log(self.command, self.path)
            answer = hub.answer(self.command, self.path)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if send_body:
                self.wfile.write(answer.body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the request log is on the hub."""

    return Handler


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting is refused at once, like an unreachable
    endpoint but without waiting for a timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
