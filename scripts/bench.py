"""The inference benchmark: the same as ``xpnet bench``; run with --help for the options."""

import sys

from xpnet.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
