"""The ``xpnet`` command: ``infer``, ``predict``, ``train``, ``bench``, ``export``, ``show``, ``plot`` and
``serve``, a module each.

Errors that the user can fix (a missing file, a bad argument, a missing
library) end the command with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..config import set_config
from ..errors import XpnetError
from . import bench, export, infer, pictures, predict, serve, train


def main(argv: Sequence[str] | None = None, *, model: str = "mlp") -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status. ``model``: the
    model of commands run without --model (a chapter's script names its own)."""
    args, unknown = parser(model).parse_known_args(argv)
    if unknown:  # under the command's own usage, not the top level's
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(args, "quiet", False):
        set_config(progress=False)
    try:
        status = args.run(args)
        sys.stdout.flush()  # here, where a reader that went away is handled, not at exit
        return status
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say, and nothing to say it to
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (XpnetError, OSError) as err:
        print(f"xpnet {args.command}: error: {err}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"xpnet {args.command}: error: out of memory (a smaller --batch-size, or fewer --workers, needs less)",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"xpnet {args.command}: interrupted", file=sys.stderr)
        return 130


def parser(model: str = "mlp") -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="xpnet", description="The networks of 'Deep Learning from Scratch' on any "
                                  "array backend.")
    top.add_argument("--version", action="version", version=f"xpnet {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (infer, predict, train, bench, export, pictures, serve):
        for command in module.add_to(commands):
            command.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
            command.set_defaults(parser=command, fallback_model=model)
            for action in command._actions:  # argparse has no public list of a parser's options
                if action.dest == "model":
                    action.fallback = model  # type: ignore[attr-defined]
    return top
