"""Chapter 3 script: the same as ``xpnet show``; run with --help for the options."""

import sys

from xpnet.cli import main

if __name__ == "__main__":
    sys.exit(main(["show", *sys.argv[1:]]))
