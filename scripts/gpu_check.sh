#!/usr/bin/env bash
# The GPU checks in one short command, on a CUDA machine with CuPy installed
# (pip install '.[test,cuda12]'): the CuPy-marked tests, MNIST inference on the GPU for every model, the GPU bench.
# Data: set XPNET_DATA_DIR and XPNET_TEST_DATA (the shared data directory), or let xpnet download them.
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import cupy; print('CuPy', cupy.__version__, 'on', cupy.cuda.runtime.getDeviceProperties(0)['name'].decode())"
python -m pytest -q -m cupy tests
weights=${XPNET_TEST_DATA:+--weights}
for model in mlp:sample_weight.pkl simple_convnet:ch07/params.pkl deep_convnet:ch08/deep_convnet_params.pkl; do
  name=${model%%:*}
  file=${XPNET_TEST_DATA:+$XPNET_TEST_DATA/${model#*:}}
  python scripts/neuralnet_mnist.py --model "$name" --device cuda $weights $file
  python scripts/neuralnet_mnist.py --model "$name" --device cuda --dtype float64 $weights $file
done
python scripts/neuralnet_mnist.py --backend dask --device cuda   # CuPy-backed dask chunks
python scripts/bench.py --device cuda --repeats 3 --json gpu_bench.json
python scripts/bench.py --model deep_convnet --device cuda --repeats 3 --json gpu_bench_deep.json \
  $weights ${XPNET_TEST_DATA:+$XPNET_TEST_DATA/ch08/deep_convnet_params.pkl}
