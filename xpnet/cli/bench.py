"""``xpnet bench``: xpnet timed beside the programs it is measured against (the ``xpnet_benchmarks`` package)."""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path
from typing import Any

from ..backends import get_backend
from ..errors import BackendError, XpnetError
from ..io.download import check_writable, save_atomically
from ..io.weights import dense_layers
from ..models import ModelEntry
from ._common import (
    MAX_BATCH,
    MAX_WORKERS,
    add_backend_args,
    add_data_args,
    add_dense_args,
    at_most,
    dense_options,
    model_backend,
    test_set,
)

MAX_TILE = 100  # copies of the test set in the benchmark (a million images, 3.9 GB in float32)


def add_to(commands: Any) -> list[argparse.ArgumentParser]:
    bench = commands.add_parser("bench", help="time xpnet beside the chapter's loop, the BLAS floor and PyTorch")
    add_backend_args(bench)
    add_data_args(bench)
    bench.add_argument("--batch-size", type=at_most(MAX_BATCH),
                       help="xpnet's images per batch (default: the model's for the device)")
    bench.add_argument("--workers", type=at_most(MAX_WORKERS), help="xpnet's batches at once (default: the backend's)")
    bench.add_argument("--tile", type=at_most(MAX_TILE),
                       help=f"copies of the test set to time (default 10 for mlp; ConvNets: 1,000 images; "
                       f"at most {MAX_TILE})")
    bench.add_argument("--repeats", type=at_most(1000), help="interleaved repetitions (default 5; 3 with --train)")
    bench.add_argument("--json", action="store_true", help="print the results as one JSON object instead of a table")
    bench.add_argument("--json-out", metavar="PATH", help="also write the results as JSON to PATH")
    bench.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it is installed")
    bench.add_argument("--sweep", action="store_true", help="time 10^3 .. 10^6 images (default on a GPU)")
    bench.add_argument("--train", action="store_true", help="time a training epoch instead, beside the book's layers "
                       "and PyTorch (10,000 images for mlp, 1,000 for a ConvNet)")
    add_dense_args(bench)
    bench.set_defaults(run=run)
    return [bench]


def run(args: argparse.Namespace) -> int:
    try:
        benchmarks = importlib.import_module("xpnet_benchmarks")
    except ImportError as err:
        raise BackendError(f"the benchmarks are not installed ({err}): pip install xpnet from its repository") from None
    if args.json_out:
        check_writable(args.json_out)
    model, backend = model_backend(args)
    if backend.lazy:
        raise XpnetError(f"bench times eager backends; for {backend.name}, time 'xpnet infer --backend "
                         f"{backend.name}' instead")
    images, labels = test_set(args)
    if not args.train and (args.sizes or args.init):
        raise XpnetError("--sizes and --init shape the network that --train trains; without --train the weights "
                         "file sets them")
    if args.train:
        options = dense_options(args, model)
        if args.weights:
            raise XpnetError(f"--weights {args.weights}: --train times an epoch from the same initial weights for "
                             "every method; leave --weights out")
        report = benchmarks.run_training(model, backend, images, labels, repeats=args.repeats or 3,
                                         with_torch=not args.no_torch, options=options)
    else:
        if model.dense:
            _check_chapter3_layout(args, model)
        report = benchmarks.run(model, backend, images, labels, weights=args.weights, dtype=args.dtype,
                                tile=args.tile, repeats=args.repeats or 5, with_torch=not args.no_torch,
                                sweep=args.sweep or backend.on_gpu)
    print(json.dumps(report) if args.json else benchmarks.format_report(report))
    if args.json_out:
        save_atomically(Path(args.json_out), lambda temporary: benchmarks.write_json(report, temporary))
    return 0


def _check_chapter3_layout(args: argparse.Namespace, model: ModelEntry) -> None:
    """A dense network must have chapter 3's layout (three sigmoid layers), whatever --weights and --activation
    say: the chapter's own loop, restated beside xpnet, computes that and nothing else."""
    network = model.load(get_backend("cpu"), args.weights, args.dtype, **args.layers_recorded)  # checked as infer does
    layers = dense_layers(network.params)
    recorded = {**args.layers_recorded, "activation": args.activation or "sigmoid"}
    if len(layers) != 3 or recorded != {"activation": "sigmoid"}:
        sizes = "-".join(str(n) for n in [layers[0][0].shape[0], *(w.shape[1] for w, _ in layers)])
        kind = ", ".join(f"{key} {value}" for key, value in recorded.items())
        raise XpnetError(f"{args.weights or 'the pretrained weights'}: a {sizes} network ({kind}); without --train "
                         "the bench times chapter 3's layout, three sigmoid layers, beside the chapter's own loop "
                         "(xpnet infer scores any)")
