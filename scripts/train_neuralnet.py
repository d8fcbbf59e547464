"""Chapters 4 and 5: the same as ``xpnet train``; run with --help for the options."""

import sys

from xpnet.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
