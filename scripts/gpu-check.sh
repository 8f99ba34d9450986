#!/usr/bin/env bash
# Checks the NVML GPU collector on a machine with an NVIDIA GPU.
#
# Builds llmprobe (cgo on: the NVML binding needs it), runs `llmprobe demo` for
# DURATION seconds next to a small CUDA-busy process when python3 with torch and
# CUDA is at hand (else the GPU stays idle), prints the llmprobe_gpu_ lines of
# /metrics every INTERVAL seconds, and nvidia-smi's view for comparison.
# Exits non-zero when llmprobe_gpu_up is not 1 at the end.
#
# Environment:
#   LLMPROBE_BIN  use this binary instead of building one (e.g. on a machine without Go)
#   ADDR          listen address (default 127.0.0.1:9091)
#   DURATION      seconds to run (default 20)
#   INTERVAL      seconds between scrapes (default 5)
#   NO_LOAD=1     do not start the CUDA-busy process
set -euo pipefail

ADDR="${ADDR:-127.0.0.1:9091}"
DURATION="${DURATION:-20}"
INTERVAL="${INTERVAL:-5}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")"
daemon_pid=""
load_pid=""

cleanup() {
  local rc=$?
  for pid in "$daemon_pid" "$load_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      # Give it a moment to exit cleanly, then insist.
      for _ in 1 2 3 4 5 6 7 8 9 10; do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
      kill -9 "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section() { printf '\n=== %s ===\n' "$*"; }

section "machine"
uname -a
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi -L || true
else
  echo "nvidia-smi not found: expect llmprobe_gpu_up 0 unless libnvidia-ml is installed anyway"
fi

bin="${LLMPROBE_BIN:-}"
if [ -z "$bin" ]; then
  section "build"
  bin=/tmp/llmprobe
  (cd "$root" && CGO_ENABLED=1 go build -o "$bin" .)
  echo "built $bin"
fi
[ -x "$bin" ] || { echo "no executable at $bin" >&2; exit 1; }

if [ "${NO_LOAD:-0}" != 1 ] && command -v python3 >/dev/null 2>&1 &&
  python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  section "load"
  secs=$((DURATION + 10))
  cat >"$work/load.py" <<EOF
import time, torch
end = time.time() + $secs
a = torch.randn(4096, 4096, device="cuda")
b = torch.randn(4096, 4096, device="cuda")
keep = torch.empty(1 << 28, dtype=torch.uint8, device="cuda")  # hold 256 MiB
while time.time() < end:
    for _ in range(20):
        c = a @ b
    torch.cuda.synchronize()
    time.sleep(0.05)
EOF
  python3 "$work/load.py" >"$work/load.log" 2>&1 &
  load_pid=$!
  echo "started CUDA load (python3 + torch), pid $load_pid, for ${secs}s"
else
  echo "no CUDA load (NO_LOAD set, or python3 with CUDA torch not available): GPU stays idle"
fi

section "daemon"
"$bin" demo --web.listen-address="$ADDR" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
echo "llmprobe demo pid $daemon_pid on $ADDR"

url="http://$ADDR/metrics"
ready=0
for _ in $(seq 1 60); do
  if ! kill -0 "$daemon_pid" 2>/dev/null; then
    echo "llmprobe exited early; its log:" >&2
    cat "$work/daemon.log" >&2
    exit 1
  fi
  if curl -fsS -o /dev/null "$url" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.5
done
if [ "$ready" != 1 ]; then
  echo "no answer on $url after 30s; daemon log:" >&2
  cat "$work/daemon.log" >&2
  exit 1
fi

scrape() {
  # grep exits 1 when nothing matches: that is a finding, not a script failure.
  curl -fsS "$url" | grep -E '^llmprobe_gpu_' || echo "(no llmprobe_gpu_ series)"
}

start=$SECONDS
n=0
while :; do
  n=$((n + 1))
  section "scrape $n at +$((SECONDS - start))s"
  scrape | tee "$work/last.txt"
  if command -v nvidia-smi >/dev/null 2>&1; then
    echo "--- nvidia-smi"
    nvidia-smi --query-gpu=index,uuid,name,utilization.gpu,utilization.memory,memory.used,memory.free,memory.total,power.draw,power.limit,temperature.gpu,clocks.sm,clocks.mem,clocks_event_reasons.active \
      --format=csv 2>/dev/null ||
      nvidia-smi --query-gpu=index,uuid,name,utilization.gpu,utilization.memory,memory.used,memory.total,power.draw,power.limit,temperature.gpu,clocks.sm,clocks.mem \
        --format=csv || true
  fi
  [ $((SECONDS - start + INTERVAL)) -le "$DURATION" ] || break
  sleep "$INTERVAL"
done

if command -v nvidia-smi >/dev/null 2>&1; then
  section "nvidia-smi"
  nvidia-smi || true
  nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv || true
fi

section "daemon log (gpu lines)"
grep -iE 'nvml|gpu' "$work/daemon.log" || echo "(none)"

section "result"
if grep -qx 'llmprobe_gpu_up 1' "$work/last.txt"; then
  echo "PASS: llmprobe_gpu_up 1, $(grep -c '^llmprobe_gpu_' "$work/last.txt") llmprobe_gpu_ series"
else
  echo "FAIL: llmprobe_gpu_up is not 1 (see the daemon log above)"
  exit 1
fi
