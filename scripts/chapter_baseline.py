"""The chapter's approach, for comparison with ``xpnet infer``: the whole test set converted to
float32 before inference, then the chapter's batch-100 loop (``xpnet.bench.chapter_accuracy``).

    /usr/bin/time -v python scripts/chapter_baseline.py --data-dir DIR --weights FILE
"""

import argparse

import xpnet
from dataset.mnist import load_split
from xpnet.bench import chapter_accuracy

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--weights")
    args = parser.parse_args()
    x, t = load_split("test", normalize=True, data_dir=args.data_dir)
    print(f"Accuracy:{chapter_accuracy(xpnet.load_weights(args.weights), x, t)}")
