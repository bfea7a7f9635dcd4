"""Loopback-only HTTP stand-ins for the fault tests. Every server binds 127.0.0.1 and answers a bounded number of
requests (the test fails, not hangs, if the code under test loops)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator


@contextlib.contextmanager
def serve(handle: Callable[[BaseHTTPRequestHandler], None], max_requests: int = 20) -> Iterator[dict]:
    """Run ``handle(handler)`` for each request; yields ``{"url", "count"}``. More than ``max_requests`` -> 599."""
    state = {"count": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _any(self):
            state["count"] += 1
            if state["count"] > max_requests:
                self.send_error(599, "request budget of the fault test exhausted")
                return
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                handle(self)

        do_GET = do_POST = _any

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def reply(handler: BaseHTTPRequestHandler, status: int, payload, delay_s: float = 0.0) -> None:
    time.sleep(delay_s)
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
