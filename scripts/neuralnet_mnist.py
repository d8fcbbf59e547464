"""Chapter 3 script: the same as ``xpnet infer``; run with --help for the options."""

import sys

from xpnet.cli import main

if __name__ == "__main__":
    sys.exit(main(["infer", *sys.argv[1:]]))
