"""Chapter 8 script: the same as ``xpnet show --misclassified`` (default --model deep_convnet); --help for options."""

import sys

from xpnet.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(["show", "--misclassified", *([] if "--model" in args else ["--model", "deep_convnet"]), *args]))
