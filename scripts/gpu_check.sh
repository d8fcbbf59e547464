#!/usr/bin/env bash
# The GPU checks in one short command, on a CUDA machine with CuPy installed
# (pip install '.[test,cuda12]'): first a bare CuPy smoke test (import, a product, a synchronize, each
# timed), then MNIST inference on the GPU for every model (CuPy in float32, float64 and float16; PyTorch;
# JAX; dask with CuPy chunks), a short training run of every model, the GPU-marked tests, and the GPU benches
# of every backend.
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
limit=60 step python -X faulthandler - <<'SMOKE'
import faulthandler, sys, time
faulthandler.dump_traceback_later(50, exit=True, file=sys.stderr)  # a hang prints every thread's stack
start = time.perf_counter()
import cupy
print(f"import cupy {cupy.__version__}: {time.perf_counter() - start:.2f} s", flush=True)
start = time.perf_counter()
print("GPU:", cupy.cuda.runtime.getDeviceProperties(0)["name"].decode(), flush=True)
a = cupy.ones((1024, 1024), dtype=cupy.float32)
b = a @ a
print(f"first product: {time.perf_counter() - start:.2f} s", flush=True)
start = time.perf_counter()
cupy.cuda.Device().synchronize()
print(f"synchronize: {time.perf_counter() - start:.2f} s, b[0, 0] = {float(b[0, 0])}", flush=True)
SMOKE
for model in mlp:sample_weight.pkl simple_convnet:ch07/params.pkl deep_convnet:ch08/deep_convnet_params.pkl; do
  name=${model%%:*}
  weights=(${XPNET_TEST_DATA:+--weights "$XPNET_TEST_DATA/${model#*:}"})
  for dtype in float32 float64 float16; do
    step python scripts/neuralnet_mnist.py --model "$name" --device cuda --dtype "$dtype" "${weights[@]}"
  done
  step python scripts/neuralnet_mnist.py --model "$name" --backend torch --device cuda "${weights[@]}"
  step python scripts/neuralnet_mnist.py --model "$name" --backend jax --device cuda "${weights[@]}"
done
step python scripts/neuralnet_mnist.py --backend dask --device cuda   # CuPy-backed dask chunks
for name in mlp simple_convnet deep_convnet; do
  step python -m xpnet train --model "$name" --device cuda --epochs 1 --train-on-test 5000 --save "/tmp/$name.npz"
done
step python -m xpnet train --device cuda --activation relu --init he --dropout 0.2 --batch-norm --epochs 1 \
  --train-on-test 5000 --save /tmp/mlp_extended.npz
step python -m xpnet infer --device cuda --weights /tmp/mlp_extended.npz
limit=$((3 * ${STEP_S:-120})) step python -m pytest -q -m gpu tests
for backend in numpy torch jax; do  # numpy on cuda is CuPy
  step python scripts/bench.py --backend "$backend" --device cuda --repeats 3 --json-out "gpu_bench_$backend.json" \
    ${XPNET_TEST_DATA:+--weights "$XPNET_TEST_DATA/sample_weight.pkl"}
  step python scripts/bench.py --backend "$backend" --model deep_convnet --device cuda --repeats 3 \
    --json-out "gpu_bench_deep_$backend.json" ${XPNET_TEST_DATA:+--weights "$XPNET_TEST_DATA/ch08/deep_convnet_params.pkl"}
done
if ((${#failed[@]})); then printf 'FAILED: %s\n' "${failed[@]}"; exit 1; fi
echo "all GPU checks passed"
