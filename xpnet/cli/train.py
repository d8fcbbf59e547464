"""``xpnet train``: train a network of the registry on MNIST by backpropagation."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from typing import Any

import numpy as np

from ..backends import get_backend
from ..datasets.mnist import load_split
from ..errors import DataError, XpnetError
from ..io.download import check_writable
from ..io.weights import check_network, dense_layers, load_weights, read_optimizer_state, save_weights
from ..models import MODELS, ModelEntry
from ..train import OPTIMIZERS, fit
from ._common import (
    DENSE_EXTRAS,
    RUN_SETTINGS,
    TRAIN_DTYPES,
    add_backend_args,
    add_dense_args,
    add_model_arg,
    at_most,
    dense_options,
    finite_positive,
    progress_bar,
    read_record,
    test_set,
)

# The command line's learning rates: higher than the book's class defaults, so that a few epochs show learning.
TRAIN_LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05, "rmsprop": 0.002, "adam": 0.005}


def ratio(text: str) -> float:
    """argparse type: a number from 0 up to, not including, 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 up to 1 (not 1 itself), got {text!r}")
    return value


def add_to(commands: Any) -> list[argparse.ArgumentParser]:
    train = commands.add_parser("train", help="train a network by backpropagation (chapters 4 to 8)")
    add_backend_args(train)
    add_model_arg(train)
    train.add_argument("--data-dir", help="directory holding the MNIST files (default $XPNET_DATA_DIR)")
    train.add_argument("--epochs", type=at_most(10_000), default=5, help="passes over the training set (default 5)")
    train.add_argument("--batch-size", type=RUN_SETTINGS["batch_size"][1], help="images per step (default 100)")
    train.add_argument("--optimizer", choices=tuple(TRAIN_LR), help="default adam (with --resume, the run's own)")
    train.add_argument("--lr", type=finite_positive, help="learning rate (default: "
                       + ", ".join(f"{name} {lr}" for name, lr in TRAIN_LR.items())
                       + "; the book's are lower; with --resume and the run's own optimizer, the run's own)")
    train.add_argument("--seed", type=RUN_SETTINGS["seed"][1], help="seeds the weights and the batch order (default 0)")
    train.add_argument("--dtype", choices=TRAIN_DTYPES, help="the network's float dtype (default float32; the book "
                       "trains in float64)")
    add_dense_args(train)
    train.add_argument("--weight-decay", type=finite_positive, metavar="LAMBDA",
                       help="with --model mlp: L2 weight decay, lambda * W added to each weight's gradient (the book's "
                       "weight_decay_lambda; default none)")
    train.add_argument("--dropout", type=ratio, metavar="RATIO",
                       help="with --model mlp: dropout after each hidden layer, each unit dropped in training with "
                       "this probability (the book's dropout_ration; default none)")
    train.add_argument("--batch-norm", action="store_true", default=None,
                       help="with --model mlp: batch normalization before each hidden activation (the book's "
                       "use_batchnorm)")
    train.add_argument("--save", default="xpnet_weights.npz", help="where to save the weights (default %(default)s)")
    train.add_argument("--train-on-test", type=RUN_SETTINGS["train_on_test"][1], metavar="N",
                       help="train on the first N test images and test on the rest (without the training split)")
    train.add_argument("--validation", type=RUN_SETTINGS["validation"][1], metavar="N",
                       help="hold the last N training images out of training and score them each epoch")
    train.add_argument("--resume", action="store_true",
                       help="go on from the epoch that the --save file holds (it is written after every epoch), with "
                       "the run's own seed, batch size, --validation and --train-on-test and its network, and its "
                       "optimizer and learning rate unless given")
    train.add_argument("--json", action="store_true", help="print each epoch as one JSON object")
    train.set_defaults(run=run)
    return [train]


def run(args: argparse.Namespace) -> int:
    check_writable(args.save)
    args.model = args.model or args.fallback_model
    model = MODELS[args.model]
    saved = read_record(args.save) if os.path.isfile(args.save) else None
    if saved is not None and saved.get("model") != model.name:
        recorded = saved.get("model")
        raise XpnetError(f"--save {args.save}: there already, holding {recorded or 'weights xpnet did not record'}"
                         f"{'' if recorded is None else ' weights'}; give another path or remove it")
    if args.resume and not (saved and "epoch" in saved):
        raise XpnetError(f"--resume: {args.save} holds no epoch of xpnet train to go on from")
    _take_run_settings(args, saved.get("run", {}) if args.resume else {})
    _take_dtype(args, saved if args.resume else None)
    options = dense_options(args, model)
    if args.resume and model.dense:
        _take_saved_network(args, saved, options, model.classes)
    extras = _take_dense_extras(args, saved if args.resume else None, model)
    if model.dense:
        if len(options["sizes"]) == 2 and (extras["dropout"] or extras["batch_norm"]):
            raise XpnetError(f"--dropout and --batch-norm act on hidden layers; --sizes "
                             f"{','.join(map(str, options['sizes']))} has none")
        options.update(weight_decay_lambda=extras["weight_decay"], dropout=extras["dropout"],
                       batch_norm=extras["batch_norm"])
    if args.resume and saved["epoch"] >= args.epochs:
        print(f"{args.save} holds epoch {saved['epoch']} already: nothing to train (--epochs {args.epochs} counts "
              "the run's epochs)", file=sys.stderr)
        return 0
    model.claim_memory()
    backend = get_backend(args.backend, args.device)
    net = model.network(backend, seed=args.seed, dtype=args.dtype, **options)
    first_epoch = 1
    if args.resume:
        try:
            net.load_params(args.save)
        except (KeyError, ValueError) as err:
            raise DataError(f"{args.save}: not the network its record describes: {err.args[0]}") from None
        first_epoch = saved["epoch"] + 1
    if args.train_on_test:
        images, labels = test_set(args)
        cut = args.train_on_test
        if cut >= len(labels):
            raise XpnetError(f"--train-on-test {cut}: must leave test images (there are {len(labels)})")
        train_set, test_split = (images[:cut], labels[:cut]), (images[cut:], labels[cut:])
    else:
        train_set = load_split("train", normalize=False, data_dir=args.data_dir)
        test_split = load_split("test", normalize=False, data_dir=args.data_dir)
    validation = None
    if args.validation:
        if args.validation >= len(train_set[1]):
            raise XpnetError(f"--validation {args.validation}: must leave training images (there are "
                             f"{len(train_set[1])})")
        cut = len(train_set[1]) - args.validation
        validation = tuple(backend.asarray(a[cut:]) for a in train_set)
        train_set = tuple(a[:cut] for a in train_set)
    train_set, test_split = (tuple(backend.asarray(a) for a in pair) for pair in (train_set, test_split))
    lr = _take_optimizer(args, saved if args.resume else None)
    optimizer = OPTIMIZERS[args.optimizer](lr=lr)
    if args.resume:
        _resume_optimizer(optimizer, args, saved, lr, net)
    n = train_set[0].shape[0]
    about = {"model": model.name, "dtype": args.dtype, "optimizer": args.optimizer, "lr": lr,
             **({"activation": options["activation"], "init": options["weight_init_std"], **extras}
                if options else {}),
             "run": {name: getattr(args, name) for name in RUN_SETTINGS}}
    bar: list[Any] = [None]  # the progress bar of the epoch being trained
    epochs = fit(net, train_set, test_split, epochs=args.epochs, optimizer=optimizer, batch_size=args.batch_size,
                 seed=args.seed, first_epoch=first_epoch, validation=validation,
                 progress=lambda size: bar[0] and bar[0](size))
    done = first_epoch - 1
    try:
        while True:
            with progress_bar(n, args.batch_size) as bar[0], warnings.catch_warnings():
                # a diverging run ends in one line (DivergedError), not in NumPy's warnings on the way there
                warnings.filterwarnings("ignore", "(overflow|invalid value|divide by zero)", RuntimeWarning)
                epoch = next(epochs, None)
            if epoch is None:
                break
            # a checkpoint after every epoch: an interrupted run leaves the last one finished
            save_weights(args.save, net.arrays, check=check_network if model.dense else None,
                         about=about | {"epoch": epoch["epoch"]}, optimizer=optimizer.state())
            done = epoch["epoch"]
            _report(epoch, args)
    except KeyboardInterrupt:
        print(f"interrupted: {args.save} holds epoch {done} (--resume goes on from there)", file=sys.stderr)
        raise
    used = "trained on" if not args.validation else f"trained on or held out ({args.validation} for validation)"
    hint = f" (its first {args.train_on_test} test images were {used}, and infer scores all of them)" if (
        args.train_on_test) else ""
    print(f"saved {args.save} ({n} training images); score it with: xpnet infer --weights {args.save}{hint}",
          file=sys.stderr if args.json else sys.stdout)
    return 0


def _take_run_settings(args: argparse.Namespace, recorded: Any) -> None:
    """Fill in the settings that decide which images a run trains on and in what order (:data:`RUN_SETTINGS`): a
    resumed run's from its file (one given that differs is refused: the run would not be the one the file began),
    else the defaults."""
    for name, (default, _) in RUN_SETTINGS.items():
        flag = "--" + name.replace("_", "-")
        value, kept = getattr(args, name), recorded.get(name, default)
        if name in recorded and value is not None and value != kept:
            raise XpnetError(f"{flag} {value}: {args.save} was trained with {flag} {kept}; --resume goes on with the "
                             "run's own (leave it out)")
        setattr(args, name, kept if value is None else value)


def _take_optimizer(args: argparse.Namespace, saved: dict[str, Any] | None) -> float:
    """Set --optimizer (adam by default) and return the learning rate (the optimizer's :data:`TRAIN_LR` by
    default): where not given, a resumed run's own, from its file. One given that differs is taken, and the
    optimizer starts afresh (:func:`_resume_optimizer` says so)."""
    kept = saved.get("optimizer") if saved else None
    kept = kept if kept in TRAIN_LR else None  # no optimizer of this command's: the default
    args.optimizer = args.optimizer or kept or "adam"
    if args.lr is not None:
        return args.lr
    return saved["lr"] if kept == args.optimizer and "lr" in saved else TRAIN_LR[args.optimizer]


def _take_dtype(args: argparse.Namespace, saved: dict[str, Any] | None) -> None:
    """--dtype, float32 by default; a resumed run's own, from its file (one given that differs is refused)."""
    if saved is None:
        args.dtype = args.dtype or TRAIN_DTYPES[0]
        return
    kept = saved.get("dtype", TRAIN_DTYPES[0])
    if args.dtype is not None and args.dtype != kept:
        raise XpnetError(f"--dtype {args.dtype}: {args.save} holds a network of --dtype {kept}; --resume goes on "
                         "with it (leave it out)")
    args.dtype = kept


def _take_saved_network(args: argparse.Namespace, saved: dict[str, Any], options: dict[str, Any], classes: int,
                        ) -> None:
    """A resumed dense network is the saved one: its sizes, activation and initial weight scale, in ``options``;
    --sizes, --activation or --init given otherwise is refused."""
    sizes = [w.shape[0] for w, _ in dense_layers(load_weights(args.save, check=None))] + [classes]
    kept = {"sizes": sizes, "activation": saved.get("activation", "sigmoid"), "weight_init_std": saved.get("init")}
    for flag, name, given in (("--sizes", "sizes", args.sizes), ("--activation", "activation", args.activation),
                              ("--init", "weight_init_std", args.init)):
        if given is not None and kept[name] is not None and options[name] != kept[name]:
            held = ",".join(map(str, kept[name])) if name == "sizes" else kept[name]
            raise XpnetError(f"{flag} {given}: {args.save} holds a network of {flag} {held}; --resume goes on with "
                             "it (leave it out)")
        options[name] = options[name] if kept[name] is None else kept[name]


def _take_dense_extras(args: argparse.Namespace, saved: dict[str, Any] | None, model: ModelEntry
                       ) -> dict[str, Any]:
    """--weight-decay, --dropout and --batch-norm (:data:`DENSE_EXTRAS`) for a dense network, each's default when
    not given; a resumed run's own, from its file (one given that differs is refused)."""
    given = [name for name in DENSE_EXTRAS if getattr(args, name) is not None]
    if given and not model.dense:
        raise XpnetError(f"{DENSE_EXTRAS[given[0]][0]} is for dense networks such as --model mlp; {model.name} is "
                         "the book's as it is")
    extras = {}
    for name, (flag, default, _) in DENSE_EXTRAS.items():
        value = getattr(args, name)
        if saved is None:
            extras[name] = default if value is None else value
            continue
        kept = saved.get(name, default)
        if value is not None and value != kept:
            was = flag if kept is True else "no " + flag if kept is False else f"{flag} {kept}"
            raise XpnetError(f"{flag}{'' if value is True else f' {value}'}: {args.save} was trained with {was}; "
                             "--resume goes on with the run's own (leave it out)")
        extras[name] = kept
    return extras


def _resume_optimizer(optimizer: Any, args: argparse.Namespace, saved: dict[str, Any], lr: float, net: Any) -> None:
    """Give ``optimizer`` the state saved with the checkpoint, when the run before used the same optimizer and
    learning rate; say so when it starts afresh."""
    if (saved.get("optimizer"), saved.get("lr")) != (args.optimizer, lr):
        print(f"--resume: {args.save} was trained with {saved.get('optimizer', 'an unrecorded optimizer')} "
              f"(lr {saved.get('lr', '?')}); {args.optimizer} (lr {lr}) starts with no state of its own",
              file=sys.stderr)
        return
    state = read_optimizer_state(args.save)
    shapes = {key: tuple(value.shape) for key, value in net.params.items()}
    for key, value in state.items():
        parameter = key.partition(".")[2]
        if value.ndim == 0 and not (value.dtype.kind in "iu" and 0 <= int(value) < 1 << 62):
            raise XpnetError(f"--resume: {args.save}: the optimizer's {key} is not a step count")
        if value.ndim and (shapes.get(parameter) != value.shape or value.dtype.kind != "f"
                           or not np.isfinite(value).all()):
            raise XpnetError(f"--resume: {args.save}: the optimizer's {key} does not fit the network's {parameter}")
    try:
        optimizer.load_state({key: value if value.ndim == 0 else net.backend.asarray(value, dtype=net.dtype)
                              for key, value in state.items()})
    except ValueError as err:
        raise XpnetError(f"--resume: {args.save}: {err}") from None


def _report(epoch: dict[str, float], args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(epoch), flush=True)
        return
    validation = f", validation {epoch['validation_accuracy']:.4f}" if "validation_accuracy" in epoch else ""
    print(f"epoch {epoch['epoch']}/{args.epochs}: loss {epoch['loss']:.4f}, train accuracy "
          f"{epoch['train_accuracy']:.4f}{validation}, test accuracy {epoch['test_accuracy']:.4f}, "
          f"{epoch['seconds']:.2f} s ({epoch['images_per_s']:,.0f} images/s)", flush=True)
