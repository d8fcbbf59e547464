#!/usr/bin/env bash
# The GPU checks in one short command, on a CUDA machine with CuPy installed
# (pip install '.[test,cuda12]'): MNIST inference on the GPU for every model (CuPy in float32, float64
# and float16; JAX; dask with CuPy chunks), the CuPy-marked tests, the GPU benches.
# Data: set XPNET_DATA_DIR and XPNET_TEST_DATA (the shared data directory), or let xpnet download them.
# Every step runs, each under a time limit (STEP_S seconds, default 120; the tests get 3x): a step that
# hangs is stopped with SIGABRT, so that Python's fault handler prints where each thread was.
# The exit status says whether any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONFAULTHANDLER=1 PYTHONUNBUFFERED=1
limit=${STEP_S:-120}
failed=()
step() { echo "== $*"; local start=$SECONDS; timeout -s ABRT "$limit" "$@" || failed+=("$*"); echo "   ($((SECONDS - start)) s)"; }
step python -c "import cupy; print('CuPy', cupy.__version__, 'on', cupy.cuda.runtime.getDeviceProperties(0)['name'].decode())"
for model in mlp:sample_weight.pkl simple_convnet:ch07/params.pkl deep_convnet:ch08/deep_convnet_params.pkl; do
  name=${model%%:*}
  weights=(${XPNET_TEST_DATA:+--weights "$XPNET_TEST_DATA/${model#*:}"})
  for dtype in float32 float64 float16; do
    step python scripts/neuralnet_mnist.py --model "$name" --device cuda --dtype "$dtype" "${weights[@]}"
  done
  step python scripts/neuralnet_mnist.py --model "$name" --backend jax --device cuda "${weights[@]}"
done
step python scripts/neuralnet_mnist.py --backend dask --device cuda   # CuPy-backed dask chunks
limit=$((3 * ${STEP_S:-120})) step python -m pytest -q -m cupy tests
step python scripts/bench.py --device cuda --repeats 3 --json gpu_bench.json
step python scripts/bench.py --model deep_convnet --device cuda --repeats 3 --json gpu_bench_deep.json \
  ${XPNET_TEST_DATA:+--weights "$XPNET_TEST_DATA/ch08/deep_convnet_params.pkl"}
if ((${#failed[@]})); then printf 'FAILED: %s\n' "${failed[@]}"; exit 1; fi
echo "all GPU checks passed"
