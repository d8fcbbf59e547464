"""``xpnet serve``: a local page to draw digits on and watch every network classify them as you draw."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..backends import get_backend
from ..errors import XpnetError
from ..models import MODELS
from ._common import add_backend_args, positive_int

MAX_PORT = 65535


def add_to(commands: Any) -> list[argparse.ArgumentParser]:
    serve = commands.add_parser("serve", help="a local page to draw a digit on and see each network classify it")
    add_backend_args(serve)
    serve.add_argument("--model", choices=tuple(MODELS), action="append",
                       help="a network to show (repeat for more; default: all of " + ", ".join(MODELS) + ")")
    serve.add_argument("--data-dir", help="directory holding the MNIST files, for the page's random test digits "
                       "(default $XPNET_DATA_DIR)")
    serve.add_argument("--port", type=port_number, default=8000, help="the port (default 8000; 0: any free one)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="the address to listen on (default 127.0.0.1, this machine only; another address lets "
                       "other machines in, and is warned of)")
    serve.add_argument("--seed", type=int, help="seed of the random test digits (default: different each run)")
    serve.add_argument("--verbose", action="store_true", help="log each request on stderr")
    serve.set_defaults(run=run)
    return [serve]


def port_number(text: str) -> int:
    """argparse type: a port, 0 (any free one) to 65,535."""
    return 0 if text.strip() == "0" else positive_int(text, MAX_PORT)


def run(args: argparse.Namespace) -> int:
    from ..datasets.mnist import load_array
    from ..server import LOOPBACK, Classifier, Server  # the HTTP machinery, for this command alone

    backend = get_backend(args.backend, args.device)
    images = load_array("test", "images", args.data_dir)
    labels = load_array("test", "labels", args.data_dir)
    networks = {name: MODELS[name].load(backend) for name in args.model or MODELS}
    classifier = Classifier(backend, networks, images, labels, args.seed)
    try:
        server = Server(classifier, args.host, args.port, args.verbose)
    except OSError as err:
        raise XpnetError(f"cannot listen on {args.host} port {args.port} ({err.strerror or err})") from None
    if args.host not in LOOPBACK:
        print(f"warning: listening on {args.host}: anyone who can reach this machine can use the page",
              file=sys.stderr)
    print(f"xpnet serve: {server.url} ({', '.join(entry.name for entry in classifier.entries)} on {backend.name}, "
          f"{backend.device}; Ctrl-C stops)", flush=True)
    with server:
        server.serve_forever()
    return 0
