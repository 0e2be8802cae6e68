"""A loopback HTTP server that serves the BSA files as the upstream raw-file host would.

It serves ``/<commit>/<upstream path>`` from bytes held in memory (so a test can serve a tampered
copy) and counts requests per path, so tests can prove what was and was not downloaded.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bsa.data import sources


class UpstreamServer:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: Counter[str] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests[self.path] += 1
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def path_of(self, asset: sources.Asset) -> str:
        return f"/{sources.UPSTREAM_COMMIT}/{asset.upstream_path}"

    @contextmanager
    def running(self) -> Iterator[UpstreamServer]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join()


def official_files(shared_bsa: Path) -> dict[str, bytes]:
    """The four official files, keyed by the URL path the upstream host serves them at."""
    return {
        f"/{sources.UPSTREAM_COMMIT}/{asset.upstream_path}": (shared_bsa / asset.name).read_bytes()
        for asset in sources.ASSETS
    }
