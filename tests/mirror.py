"""A small HTTP server on 127.0.0.1 that plays good and bad download mirrors.

``http://127.0.0.1:PORT/<behaviour>/<file name>`` where behaviour is one of
good, 403, 404, html, truncated, stall (headers and a few bytes, then
silence for STALL_S seconds), alt (the file's entry in ``alternates``
instead), endless (zeros without end, for at most ENDLESS_S seconds),
drip (one byte every DRIP_S seconds, for at most ENDLESS_S) or encoded-bomb
(a gzip Content-Encoding that unpacks to BOMB_BYTES of zeros).
"""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STALL_S = 3.0
DRIP_S = 0.1
ENDLESS_S = 20.0
BOMB_BYTES = 64 << 20


class Mirror:
    """Serves ``files`` (name -> bytes); ``hits`` counts requests per path."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.alternates: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.hits[self.path] = mirror.hits.get(self.path, 0) + 1
                _, behaviour, name = self.path.split("/", 2)
                body = (mirror.alternates if behaviour == "alt" else mirror.files).get(name)
                if behaviour in ("endless", "drip", "encoded-bomb"):
                    self._stream(behaviour)
                elif behaviour in ("403", "404") or body is None:
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

            def _stream(self, behaviour: str) -> None:
                self.send_response(200)
                if behaviour == "encoded-bomb":
                    body = gzip.compress(bytes(BOMB_BYTES), compresslevel=1)
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.end_headers()
                chunk, pause = (bytes(1 << 16), 0.0) if behaviour == "endless" else (b"\0", DRIP_S)
                end = time.monotonic() + ENDLESS_S
                try:
                    while time.monotonic() < end:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        time.sleep(pause)
                except OSError:  # the client hung up, as it should
                    pass

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
