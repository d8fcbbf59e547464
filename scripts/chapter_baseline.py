"""The chapter's approach, for comparison with ``xpnet infer``: the whole image set converted to
float32 before inference, then the chapter's batch-100 loop (``xpnet_benchmarks.references.chapter_accuracy``).

    /usr/bin/time -v python scripts/chapter_baseline.py --data-dir DIR --weights FILE
    /usr/bin/time -v python scripts/chapter_baseline.py --images X.npy --labels T.npy --weights FILE
"""

import argparse
import sys

import numpy as np

import xpnet
from xpnet.datasets.mnist import load_split, normalized
from xpnet.io.files import check_image_files
from xpnet_benchmarks.references import chapter_accuracy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="directory holding the MNIST test .gz files")
    parser.add_argument("--weights", help="weights .pkl or .npz (default: the book's)")
    parser.add_argument("--images", metavar="NPY", help="uint8 images .npy instead of the test set")
    parser.add_argument("--labels", metavar="NPY", help="the labels .npy that goes with --images")
    args = parser.parse_args()
    try:
        weights = xpnet.load_weights(args.weights)
        if args.images:
            check_image_files(args.images, args.labels)
            images = np.load(args.images, allow_pickle=False)
            x, t = normalized(images.reshape(images.shape[0], -1)), np.load(args.labels, allow_pickle=False)
            del images  # the chapter keeps only the float32 copy
        else:
            x, t = load_split("test", normalize=True, data_dir=args.data_dir)
        print(f"Accuracy:{chapter_accuracy(weights, x, t)}")
    except (xpnet.XpnetError, ValueError, TypeError) as err:  # the same one line as the xpnet command
        print(f"chapter_baseline.py: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
