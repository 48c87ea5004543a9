#!/usr/bin/env bash
# The GPU check, for a machine lent by the device tool (one GPU, its own Python with torch, CUDA,
# lightning, torchmetrics, tensorboard and torchvision, no registry). Under 8 minutes on one H200.
#
#   prepare here:  pip download --python-version 3.12 --only-binary=:all: --no-deps -d .wheels \
#                      jsonargparse==4.53.0 omegaconf==2.4.0 docstring-parser==0.18.0 \
#                      typeshed-client==2.14.0 powerlaw==2.0.0
#                  mkdir -p data/mnist && cp "$PL_POWERLAW_DATA"/mnist/*.gz data/mnist/
#   run there:     bash benchmarks/gpu_check.sh        (device tool: carry .wheels and data)
#
# Prints a table: the CUDA tests; the quick MLP and LeNet configs on accelerator=gpu with
# bf16-mixed, their final masks, degrees and fits against a CPU analysis of the same checkpoint;
# GPU throughput (Lightning / hand loop, target <= 1.05, samples per second); degree_speed and
# analyze_speed on the GPU. Each line says ok or FAILED; the script exits 1 if any failed.
# A dry run of the same steps on a CPU (to check the script itself):
#   ACCEL=cpu PRECISION=32-true SKIP_INSTALL=1 FIT_ARGS="--data.init_args.train_subset 2000" \
#       bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
export PL_POWERLAW_DATA=${PL_POWERLAW_DATA:-$PWD/data} MPLBACKEND=Agg PYTHONWARNINGS=ignore
ACCEL=${ACCEL:-gpu}
PRECISION=${PRECISION:-bf16-mixed}
DEVICE=$([ "$ACCEL" = gpu ] && echo cuda || echo cpu)
read -r -a FIT_ARGS <<<"${FIT_ARGS:-}"
declare -a TABLE=()
FAILED=0

step() {  # step NAME COMMAND...: run, log to $OUT/NAME.log, keep the last line for the table
  local name=$1; shift
  local start=$SECONDS
  "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  local last
  last=$(grep -v '^\s*$' "$OUT/$name.log" | tail -n 1 | cut -c1-110)
  if [ $rc -eq 0 ]; then TABLE+=("ok     $(printf '%-22s' "$name") $((SECONDS - start))s  $last")
  else TABLE+=("FAILED $(printf '%-22s' "$name") $((SECONDS - start))s  rc=$rc  $last"); FAILED=1; fi
}

[ -n "${SKIP_INSTALL:-}" ] || step install bash -c "$PY -m pip install --no-deps --no-index .wheels/*.whl && $PY -m pip install --no-deps --no-build-isolation -e . && $PY -c 'import torch, pl_powerlaw; print(torch.__version__, torch.cuda.get_device_name(0))'"
step cuda-tests "$PY" -m pytest -q -p no:cacheprovider tests/test_pruning_selection.py tests/test_data_augment.py tests/test_data_device.py -rs
for net in mlp lenet; do
  root="$OUT/$net"
  step "$net-quick-$ACCEL" "$PY" -m pl_powerlaw fit --config "configs/${net}_mnist_quick.yaml" \
      --trainer.accelerator "$ACCEL" --trainer.devices 1 --trainer.precision "$PRECISION" \
      --trainer.default_root_dir "$root" --trainer.enable_progress_bar false "${FIT_ARGS[@]}"
  step "$net-cpu-reanalysis" env CUDA_VISIBLE_DEVICES= "$PY" -m pl_powerlaw analyze \
      "$root/lightning_logs/version_0/checkpoints/last.ckpt" --null 0 --out "$root/cpu_analysis"
  step "$net-$ACCEL-vs-cpu" "$PY" benchmarks/gpu_compare.py "$root/lightning_logs/version_0" "$root/cpu_analysis"
done
[ -n "${SKIP_BENCHMARKS:-}" ] && { printf '%s\n' "${TABLE[@]}"; exit $FAILED; }
step "throughput-$ACCEL" "$PY" benchmarks/train_throughput.py --accelerator "$ACCEL" --repeats 5
step "degree-speed-$DEVICE" "$PY" benchmarks/degree_speed.py --device "$DEVICE"
step "analyze-speed-$DEVICE" "$PY" benchmarks/analyze_speed.py --device "$DEVICE"

echo
echo "== GPU check ($(date -u +%F), $($PY -c 'import torch; print(torch.cuda.get_device_name(0))' 2>/dev/null))"
printf '%s\n' "${TABLE[@]}"
echo "logs: $OUT/*.log"
exit $FAILED
