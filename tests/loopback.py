"""Run a stdlib HTTP handler on an ephemeral 127.0.0.1 port for the length of a ``with`` block.

The fake vendor servers (Hugging Face Hub, Anthropic, Zhipu, Gemini) differ in what they say, not in
how they listen; this is the one place that starts and stops them. The scripted JSON vendor fakes
build on it through ``tests/scripted_fake.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serve_loopback(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Yield ``http://127.0.0.1:PORT`` while ``handler`` answers there; stop it afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
