"""Chapter 7 script: the same as ``xpnet plot filters`` (default --model simple_convnet); --help for the options."""

import sys

from xpnet.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(["plot", "filters", *([] if "--model" in args else ["--model", "simple_convnet"]), *args]))
