"""The drawing page's server: the page itself and a small JSON API over the registry's networks.

- ``GET /`` (and ``/page.js``, ``/page.css``): the page, from the package; no other path names a file.
- ``GET /models``: the networks, the backend and the device.
- ``GET /random``: a random test digit, ``{"index", "label", "pixels"}`` (784 uint8 values, row by row).
- ``POST /predict``: a PNG or JPEG body (``Content-Type: image/png`` or ``image/jpeg``), or JSON
  ``{"pixels": [...], "width": 28, "height": 28}`` of gray levels 0 to 255 row by row; the picture is
  brought to MNIST's form as ``xpnet predict`` does (:func:`xpnet.digits.to_mnist`) and every network
  classifies it: ``{"input": [784 values], "models": [{"name", "digit", "probabilities", "insides":
  [{"layer", "shape", "values"}]}]}``.

A body over :data:`MAX_BODY` bytes gets 413, a bad one 400 with ``{"error": "..."}``, a request from
another origin (or for another host name) 403; a fault of the server itself is 500 with no detail.
"""

from __future__ import annotations

import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import numpy as np

from .backends import Backend, to_numpy
from .digits import to_mnist
from .errors import XpnetError
from .functions import softmax
from .io.files import shown
from .io.images import decode_picture
from .models import MODELS
from .nn import Model

MAX_BODY = 1 << 20  # bytes of a request body: a 280x280 drawing as PNG is a few KB
DRAIN_CAP = 16 * MAX_BODY  # bytes of a body too large that are still read (and dropped) before the 413
MAX_SIDE = 1024  # pixels a side of a picture sent as JSON
PAGE = {"/": ("index.html", "text/html; charset=utf-8"), "/page.js": ("page.js", "text/javascript; charset=utf-8"),
        "/page.css": ("page.css", "text/css; charset=utf-8")}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class RequestError(ValueError):
    """What the client sent cannot be classified; ``status``: the HTTP status that says so."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


class Classifier:
    """Networks of the registry on one backend (``networks``: by model name, with their weights);
    ``images``/``labels``: the test set for ``/random`` (None: no test set), drawn with a generator seeded
    by ``seed``."""

    def __init__(self, backend: Backend, networks: dict[str, Model], images: np.ndarray | None = None,
                 labels: np.ndarray | None = None, seed: int | None = None) -> None:
        self.backend = backend
        self.entries = [MODELS[name] for name in networks]
        self.networks = list(networks.values())
        self.images, self.labels = images, labels
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def about(self) -> dict[str, Any]:
        return {"backend": self.backend.name, "device": str(self.backend.device),
                "models": [{"name": entry.name, "title": entry.title, "accuracy": entry.accuracy,
                            "insides": list(entry.insides)} for entry in self.entries]}

    def random_digit(self) -> dict[str, Any]:
        if self.images is None or self.labels is None:
            raise RequestError("no test set here: start xpnet serve with --data-dir", HTTPStatus.SERVICE_UNAVAILABLE)
        with self._lock:  # a generator is not for threads to share
            index = int(self._rng.integers(len(self.labels)))
        return {"index": index, "label": int(self.labels[index]), "pixels": self.images[index].reshape(-1).tolist()}

    def classify(self, picture: np.ndarray) -> dict[str, Any]:
        """Every network's digit, probabilities and insides for a picture of one digit."""
        try:
            digit = to_mnist(picture)
        except ValueError as err:
            raise RequestError(f"the picture {err}") from None
        x = self.backend.asarray(digit.reshape(1, -1))
        results = []
        for entry, network in zip(self.entries, self.networks, strict=True):
            outputs = network.outputs(x)
            probabilities = to_numpy(softmax(list(outputs.values())[-1]))[0]
            insides = [{"layer": name, "shape": list(outputs[name].shape[1:]),
                        "values": np.round(to_numpy(outputs[name])[0].astype(np.float64), 4).reshape(-1).tolist()}
                       for name in entry.insides]
            results.append({"name": entry.name, "digit": int(np.argmax(probabilities)),
                            "probabilities": probabilities.astype(np.float64).tolist(), "insides": insides})
        return {"input": digit.reshape(-1).tolist(), "models": results}


def picture_of(body: bytes, content_type: str) -> np.ndarray:
    """The picture a ``/predict`` body holds; RequestError for anything else."""
    kind = content_type.split(";")[0].strip().lower()
    if kind in ("image/png", "image/jpeg"):
        try:
            return decode_picture(body)
        except XpnetError as err:
            raise RequestError(f"the picture {err}") from None
    if kind != "application/json":
        raise RequestError(f"Content-Type {shown(kind)}: send image/png, image/jpeg or application/json",
                         HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
    try:
        request = json.loads(body)
    except (ValueError, RecursionError):
        raise RequestError("the body is not JSON") from None
    if not isinstance(request, dict) or not isinstance(request.get("pixels"), list):
        raise RequestError('expected {"pixels": [...], "width": 28, "height": 28}')
    width, height = request.get("width", 28), request.get("height", 28)
    if not all(type(side) is int and 1 <= side <= MAX_SIDE for side in (width, height)):
        raise RequestError(f"width and height must be integers from 1 to {MAX_SIDE}")
    pixels = request["pixels"]
    if len(pixels) != width * height:
        raise RequestError(f"{len(pixels):,} pixels for a {width} x {height} picture (expected {width * height:,})")
    if not all(type(value) is int and 0 <= value <= 255 for value in pixels):
        raise RequestError("pixels must be integers from 0 to 255")
    return np.array(pixels, np.uint8).reshape(height, width)


class Handler(BaseHTTPRequestHandler):
    """One request; the server holds the :class:`Classifier` (``server.classifier``)."""

    server: Server
    timeout = 10  # seconds a client may take to send its request
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer(self._get)

    def do_POST(self) -> None:
        self._answer(self._post)

    def _get(self) -> tuple[HTTPStatus, str, bytes]:
        path = self.path.split("?")[0]
        if path in PAGE:
            name, kind = PAGE[path]
            return HTTPStatus.OK, kind, resources.files("xpnet.page").joinpath(name).read_bytes()
        if path == "/models":
            return _json(HTTPStatus.OK, self.server.classifier.about())
        if path == "/random":
            return _json(HTTPStatus.OK, self.server.classifier.random_digit())
        raise RequestError(f"no such page: {shown(path)}", HTTPStatus.NOT_FOUND)

    def _post(self) -> tuple[HTTPStatus, str, bytes]:
        if self.path.split("?")[0] != "/predict":
            raise RequestError(f"no such endpoint: {shown(self.path)}", HTTPStatus.NOT_FOUND)
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise RequestError("a Content-Length is needed", HTTPStatus.LENGTH_REQUIRED) from None
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            if length <= DRAIN_CAP:  # read and dropped, so that the client, done sending, reads the answer
                while length > 0 and (chunk := self.rfile.read(min(length, 1 << 16))):
                    length -= len(chunk)
            raise RequestError(f"a body of {length:,} bytes: at most {MAX_BODY:,}", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        body = self.rfile.read(length)
        if len(body) != length:
            raise RequestError("the body ended before its Content-Length")
        picture = picture_of(body, self.headers.get("Content-Type", ""))
        return _json(HTTPStatus.OK, self.server.classifier.classify(picture))

    def _answer(self, respond: Any) -> None:
        try:
            self._check_origin()
            status, kind, data = respond()
        except RequestError as err:
            status, kind, data = _json(err.status, {"error": str(err)})
        except Exception as err:  # never a traceback in a response: one line on the server's stderr
            print(f"xpnet serve: {self.command} {shown(self.path)} failed: {type(err).__name__}: {err}",
                  file=sys.stderr)
            status, kind, data = _json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
        self.end_headers()
        self.wfile.write(data)

    def _check_origin(self) -> None:
        """Only this page may call the API: another origin (a page elsewhere that the browser runs) gets 403,
        and so does another host name (DNS rebinding)."""
        host = self.headers.get("Host", "")
        if self.server.hosts and host not in self.server.hosts:
            raise RequestError(f"Host {shown(host)} is not this server's", HTTPStatus.FORBIDDEN)
        origin = self.headers.get("Origin")
        if origin is not None and origin != f"http://{host}":
            raise RequestError(f"requests from {shown(origin)} are refused", HTTPStatus.FORBIDDEN)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class Server(ThreadingHTTPServer):
    """The page's HTTP server, a thread a request; ``url`` once bound."""

    daemon_threads = True
    request_queue_size = 256  # connections waiting to be accepted: a page's bursts, and more than socketserver's 5

    def __init__(self, classifier: Classifier, host: str = "127.0.0.1", port: int = 8000,
                 verbose: bool = False) -> None:
        super().__init__((host, port), Handler)
        self.classifier = classifier
        self.verbose = verbose
        port = self.server_address[1]
        # on the loopback only this machine's names for it are accepted; bound elsewhere, any name that reaches it
        self.hosts = {f"[{name}]:{port}" if ":" in name else f"{name}:{port}" for name in LOOPBACK} if (
            host in LOOPBACK) else set()
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def _json(status: HTTPStatus, value: Any) -> tuple[HTTPStatus, str, bytes]:
    return status, "application/json", json.dumps(value).encode()
