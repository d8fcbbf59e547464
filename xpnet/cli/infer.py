"""``xpnet infer``: the test accuracy of a network with the book's weights (or yours), on any backend."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ..backends import LIBRARIES
from ..backends.runtime import compile_seconds, lazy_workers, use_scheduler
from ..errors import XpnetError
from ..io.files import check_image_files, check_npy, load_npy
from ..scoring import score
from ._common import (
    MAX_BATCH,
    MAX_WORKERS,
    add_backend_args,
    add_data_args,
    at_most,
    load_network,
    model_backend,
    progress_bar,
    test_set,
)

MIN_CHUNK = 1000  # images per chunk of a lazy backend: each chunk costs a few tasks of scheduling


def add_to(commands: Any) -> list[argparse.ArgumentParser]:
    infer = commands.add_parser("infer", help="MNIST test accuracy with the book's weights (chapters 3, 7, 8)")
    add_backend_args(infer)
    add_data_args(infer)
    infer.add_argument("--batch-size", type=at_most(MAX_BATCH),
                       help="images per batch; any size gives the same result (default: the model's for the "
                       "device, e.g. 500 on a CPU and 65536 on a GPU for mlp; the book uses 100)")
    infer.add_argument("--workers", type=at_most(MAX_WORKERS),
                       help="batches scored at once, one per core (default: every core with NumPy, else 1)")
    infer.add_argument("--json", action="store_true", help="print the result as one JSON object (each class's "
                       "accuracy included)")
    infer.add_argument("--per-class", action="store_true", help="also print each class's accuracy")
    infer.add_argument("--images", metavar="NPY", help="score a uint8 (n, 784) or (n, 28, 28) .npy instead of "
                       "MNIST's test set; memory-mapped, and read chunk by chunk with --backend dask")
    infer.add_argument("--labels", metavar="NPY", help="the (n,) labels .npy that goes with --images")
    infer.add_argument("--scheduler", metavar="ADDRESS",
                       help="with --backend dask: run on the dask.distributed scheduler at ADDRESS")
    infer.add_argument("--activation", choices=("sigmoid", "relu"),
                       help="with --model mlp: the hidden layers' activation (default sigmoid, the book's)")
    infer.set_defaults(run=run)
    return [infer]


def run(args: argparse.Namespace) -> int:
    model, backend = model_backend(args)
    if (args.images is None) != (args.labels is None):
        raise XpnetError("--images and --labels go together")
    lazy = [name for name, library in LIBRARIES.items() if library.lazy]
    if backend.lazy and backend.batch_size < MIN_CHUNK:
        raise XpnetError(f"--batch-size {backend.batch_size}: with {backend.name} it is the chunk size, at least "
                         f"{MIN_CHUNK:,} images (each chunk costs a few tasks to schedule)")
    client = None
    if args.scheduler:
        if not backend.lazy:
            raise XpnetError(f"--scheduler needs --backend {' or '.join(lazy)}")
        client = use_scheduler(args.scheduler)
    workers = lazy_workers(client) if backend.lazy else backend.workers
    if args.images:
        check_image_files(args.images, args.labels)
    network = load_network(args, model, backend, check_npy(args.images)[0][0] if args.images else 10_000)
    if not args.images:
        images, labels = test_set(args)
    start = time.perf_counter()  # from host data (or the .npy files) to the accuracy on the host
    if args.images:
        x, t = load_npy(args.images, backend), load_npy(args.labels, backend)
    else:
        x, t = backend.asarray(images), backend.asarray(labels)
    x = backend.xp.reshape(x, (x.shape[0], -1))
    compiling = compile_seconds(x)  # JAX's first batches pay for compiling the pass, which is said apart
    with progress_bar(x.shape[0], backend.batch_size) as update:
        try:
            result = score(network, x, t, backend.batch_size, progress=update, workers=backend.workers,
                             chunk_batch=model.batch["cpu"] if backend.lazy else None)  # memory bounded by a batch
        except (ValueError, TypeError) as err:  # the images ("x ...") or labels ("t ...") do not fit the network
            source = args.labels if args.labels and str(err).startswith("t ") else args.images
            raise XpnetError(f"{source or 'MNIST test set'}: {err}") from None
    seconds = time.perf_counter() - start
    compiling = None if compiling is None else compile_seconds(x) - compiling
    n = x.shape[0]
    report = {
        "accuracy": result.accuracy,
        "correct": result.correct,
        "images": n,
        "model": model.name,
        "dtype": args.dtype or model.dtype,
        "device": str(backend.device),
        "backend": backend.name,
        "batch_size": backend.batch_size,
        "workers": workers,
        "seconds": seconds,
        "images_per_s": n / seconds,
        **({} if compiling is None else {"compile_seconds": compiling}),
        "per_class": [{"class": k, "images": count, "correct": right, "accuracy": share}
                      for k, (count, right, share) in enumerate(zip(result.class_images, result.class_correct,
                                                                    result.class_accuracy, strict=True))],
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"Accuracy:{result.accuracy}")
    if args.per_class:
        print("class  images  correct  accuracy")
        for row in report["per_class"]:
            shown = "-" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
            print(f"{row['class']:>5}  {row['images']:>6}  {row['correct']:>7}  {shown:>8}")
    print(f"{n} images, {model.name} in {report['dtype']}, on {backend.name} ({backend.device}), "
          f"{'chunks' if backend.lazy else 'batch'} {backend.batch_size} x {workers} worker(s): {seconds:.3f} s"
          f"{'' if compiling is None else f' ({compiling:.3f} s of it compiling)'}, "
          f"{report['images_per_s']:,.0f} images/s")
    return 0
