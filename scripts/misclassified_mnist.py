"""Chapter 8 script: the same as ``xpnet show --misclassified`` (default --model deep_convnet); --help for options."""

import sys

from xpnet.cli import main

if __name__ == "__main__":
    sys.exit(main(["show", "--misclassified", *sys.argv[1:]], model="deep_convnet"))
