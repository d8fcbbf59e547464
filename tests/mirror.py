"""A small HTTP server on 127.0.0.1 that plays good and bad download mirrors.

``http://127.0.0.1:PORT/<behaviour>/<file name>`` where behaviour is one of
good, 403, 404, html, truncated or stall (headers and a few bytes, then
silence for STALL_S seconds).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STALL_S = 3.0


class Mirror:
    """Serves ``files`` (name -> bytes); ``hits`` counts requests per path."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.hits: dict[str, int] = {}
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.hits[self.path] = mirror.hits.get(self.path, 0) + 1
                _, behaviour, name = self.path.split("/", 2)
                body = mirror.files.get(name)
                if behaviour in ("403", "404") or body is None:
                    self.send_error(int(behaviour) if behaviour in ("403", "404") else 404)
                elif behaviour == "html":
                    self._send(b"<!DOCTYPE html><html><body>Moved. Please log in.</body></html>", "text/html")
                elif behaviour == "truncated":
                    self._send(body[: len(body) // 2])
                elif behaviour == "stall":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[:100])
                    self.wfile.flush()
                    time.sleep(STALL_S)
                else:
                    self._send(body)

            def _send(self, body: bytes, kind: str = "application/octet-stream") -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __call__(self, behaviour: str) -> str:
        """The base URL of a mirror with that behaviour, ending in '/'."""
        return f"{self.url}/{behaviour}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
