#!/usr/bin/env bash
# Screenshots of TensorBoard's tabs over a run's logs, as a user sees them (an optional check,
# not run in CI). Needs Debian's `chromium` (apt-get install chromium) and the base install.
#
#   bash scripts/tensorboard_screenshots.sh lightning_logs/version_0 out_folder [port]
#
# Starts TensorBoard on a loopback port, waits until it answers, loads each tab in headless
# Chromium (no GPU, no sandbox, no background network) and writes out_folder/<tab>.png; exits 1
# if TensorBoard does not come up or a screenshot is missing or nearly empty.
set -euo pipefail
logdir=${1:?usage: tensorboard_screenshots.sh LOGDIR OUT [PORT]}
out=${2:?usage: tensorboard_screenshots.sh LOGDIR OUT [PORT]}
port=${3:-6123}
mkdir -p "$out"
python -m tensorboard.main --logdir "$logdir" --host 127.0.0.1 --port "$port" \
  --reload_interval 0 >"$out/tensorboard.log" 2>&1 &
board=$!
trap 'kill $board 2>/dev/null || true' EXIT
for _ in $(seq 60); do
  curl -sf "http://127.0.0.1:$port/data/runs" >/dev/null && break
  sleep 1
done
curl -sf "http://127.0.0.1:$port/data/runs" >/dev/null || { echo "TensorBoard did not start"; exit 1; }
status=0
for tab in images scalars custom_scalars histograms distributions text hparams; do
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --hide-scrollbars --window-size=1400,1000 --virtual-time-budget=15000 \
    --screenshot="$out/$tab.png" "http://127.0.0.1:$port/?darkMode=false#$tab" \
    >/dev/null 2>&1 || true
  size=$(stat -c %s "$out/$tab.png" 2>/dev/null || echo 0)
  if [ "$size" -lt 20000 ]; then echo "FAILED $tab: $size bytes"; status=1; else echo "ok $tab: $size bytes"; fi
done
exit $status
