#!/usr/bin/env bash
# The GPU checks in one short command, on a CUDA machine with CuPy installed
# (pip install '.[test,cuda12]'): the CuPy-marked tests, then MNIST inference on the GPU.
# Data: set XPNET_DATA_DIR and XPNET_WEIGHTS (and XPNET_TEST_DATA for the tests), or let xpnet download them.
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import cupy; print('CuPy', cupy.__version__, 'on', cupy.cuda.runtime.getDeviceProperties(0)['name'].decode())"
python -m pytest -q -m cupy tests
python scripts/neuralnet_mnist.py --device cuda --batch-size 100
python scripts/neuralnet_mnist.py --device cuda --batch-size 10000
python scripts/neuralnet_mnist.py --backend dask --device cuda   # CuPy-backed dask chunks
python scripts/bench.py --device cuda --repeats 3 --json gpu_bench.json
