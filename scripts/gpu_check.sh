#!/usr/bin/env bash
# The GPU checks in one short command, on a CUDA machine with CuPy installed
# (pip install '.[test,cuda12]'): the CuPy-marked tests, MNIST inference on the GPU for every model
# (CuPy in float32, float64 and float16; JAX; dask with CuPy chunks), the GPU benches.
# Data: set XPNET_DATA_DIR and XPNET_TEST_DATA (the shared data directory), or let xpnet download them.
# Every step runs even when one fails; the exit status says whether any did.
set -uo pipefail
cd "$(dirname "$0")/.."
failed=()
step() { echo "== $*"; "$@" || failed+=("$*"); }
step python -c "import cupy; print('CuPy', cupy.__version__, 'on', cupy.cuda.runtime.getDeviceProperties(0)['name'].decode())"
step python -m pytest -q -m cupy tests
for model in mlp:sample_weight.pkl simple_convnet:ch07/params.pkl deep_convnet:ch08/deep_convnet_params.pkl; do
  name=${model%%:*}
  weights=(${XPNET_TEST_DATA:+--weights "$XPNET_TEST_DATA/${model#*:}"})
  for dtype in float32 float64 float16; do
    step python scripts/neuralnet_mnist.py --model "$name" --device cuda --dtype "$dtype" "${weights[@]}"
  done
  step python scripts/neuralnet_mnist.py --model "$name" --backend jax --device cuda "${weights[@]}"
done
step python scripts/neuralnet_mnist.py --backend dask --device cuda   # CuPy-backed dask chunks
step python scripts/bench.py --device cuda --repeats 3 --json gpu_bench.json
step python scripts/bench.py --model deep_convnet --device cuda --repeats 3 --json gpu_bench_deep.json \
  ${XPNET_TEST_DATA:+--weights "$XPNET_TEST_DATA/ch08/deep_convnet_params.pkl"}
if ((${#failed[@]})); then printf 'FAILED: %s\n' "${failed[@]}"; exit 1; fi
echo "all GPU checks passed"
