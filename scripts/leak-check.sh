#!/usr/bin/env bash
# Leak and long-run check: runs the daemon for DURATION with probes every
# second (against a clean simulator, a faulty one and a refused port) and a
# rate soak started again and again through the API against the clean
# simulator (the simulators run as separate `llmprobe sim` processes). It
# samples go_goroutines and process_resident_memory_bytes from /metrics
# every SAMPLE, prints a table, and fails if, after WARMUP, the daemon grew
# beyond the bounds below. At the end it stops the daemon with SIGTERM and
# checks that it exits 0.
#
#   scripts/leak-check.sh                         # 10 minutes
#   DURATION=1h SAMPLE=30s scripts/leak-check.sh  # the long run
#
# Bounds, compared with the lowest sample of the last quarter of the run
# after warm-up (at least three samples): a leak grows and stays, while a
# slow moment of a shared machine (arrivals due during a stall start
# together, more requests in flight) comes and goes.
#
#   goroutines <= warm-up baseline + GOROUTINE_SLACK (20)
#     The baseline is the most seen during warm-up, soak running. On top of
#     its fixed goroutines the daemon holds about three per request in
#     flight and two per idle keep-alive connection, which the transport
#     keeps 90 s: after a burst they stay. The soak's max_in_flight is 8
#     here, so a burst leaves at most 8 soak connections (plus one per
#     probe target) where the baseline already had several: 20 covers
#     that. A leak of one goroutine per probe run (three a second) or per
#     soak request passes the bound within seconds.
#   RSS <= warm-up baseline * RSS_FACTOR (1.5) + RSS_SLACK_MIB (32) MiB
#     Go's collector lets the heap grow to twice the live data before it
#     collects (GOGC=100) and returns memory to the OS lazily, so RSS moves
#     by tens of MiB without a leak; 1.5x + 32 MiB is about 70-80 MiB for a
#     daemon that settles near 25-30 MiB. A leak of 1 KiB per request (20
#     soak requests/s) adds 12 MiB in 10 minutes, 70 MiB in an hour: the
#     10-minute run catches per-request leaks of a few KiB, the hour-long
#     run anything of that order. The 20-second run in the tests catches
#     goroutine leaks, not slow memory leaks.
#
# Environment: DURATION (10m), WARMUP (60s), SAMPLE (5s), SOAK_RATE (20
# requests/s), SOAK_DURATION (30s a run), GOROUTINE_SLACK, RSS_FACTOR,
# RSS_SLACK_MIB, LLMPROBE_BIN (a built binary; else one is built), KEEP=1
# keeps the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10m}
WARMUP=${WARMUP:-60s}
SAMPLE=${SAMPLE:-5s}
SOAK_RATE=${SOAK_RATE:-20}
SOAK_DURATION=${SOAK_DURATION:-30s}
GOROUTINE_SLACK=${GOROUTINE_SLACK:-20}
RSS_FACTOR=${RSS_FACTOR:-1.5}
RSS_SLACK_MIB=${RSS_SLACK_MIB:-32}

# seconds converts 90, 90s, 10m or 1h to seconds.
seconds() {
  case "$1" in
    *h) echo $((${1%h} * 3600)) ;;
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
duration_s=$(seconds "$DURATION")
warmup_s=$(seconds "$WARMUP")
sample_s=$(seconds "$SAMPLE")
if ((warmup_s >= duration_s)); then
  echo "leak-check: WARMUP ($WARMUP) must be shorter than DURATION ($DURATION)" >&2
  exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/llmprobe-leak.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ "${KEEP:-}" = 1 ]; then
    echo "work directory kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

bin=${LLMPROBE_BIN:-}
if [ -z "$bin" ]; then
  bin=$work/llmprobe
  go build -o "$bin" .
fi

# start_sim NAME ARGS...: runs `llmprobe sim` on a free port (in this
# shell, so that cleanup knows its pid).
start_sim() {
  local name=$1
  shift
  "$bin" sim --listen 127.0.0.1:0 "$@" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
}

# sim_addr NAME prints the address of a started simulator once it serves.
sim_addr() {
  local name=$1 i addr=""
  for i in $(seq 100); do
    addr=$(sed -n 's|.*at http://\([^/]*\)/v1.*|\1|p' "$work/$name.out")
    [ -n "$addr" ] && break
    sleep 0.1
  done
  if [ -z "$addr" ]; then
    echo "leak-check: $name did not start:" >&2
    cat "$work/$name.err" >&2
    exit 1
  fi
  echo "$addr"
}

# free_port prints a loopback port nothing answers on.
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "leak-check: no free port" >&2
  exit 1
}

start_sim sim-clean --ttft 20ms --itl 5ms --output-tokens 16
start_sim sim-faulty --ttft 20ms --itl 5ms --output-tokens 16 \
  --fault.http-429 0.1 --fault.http-500 0.1 --fault.disconnect 0.1 --fault.stall 0.1
clean=$(sim_addr sim-clean)
faulty=$(sim_addr sim-faulty)
refused=127.0.0.1:$(free_port)
port=$(free_port)
base=http://127.0.0.1:$port

cat >"$work/llmprobe.yaml" <<EOF
global: {probe_jitter: 0s, data_dir: "$work/data"}
targets:
  - {name: clean, url: "http://$clean", model: sim-model, timeout: 10s}
  - {name: faulty, url: "http://$faulty", model: sim-model, timeout: 5s, idle_timeout: 1s}
  - {name: refused, url: "http://$refused", model: sim-model, timeout: 5s}
workloads:
  - {name: w, prompt: "leak check", output_tokens: {num_tokens: 16}}
probes:
  - {name: heartbeat, targets: [clean, faulty, refused], workload: w, schedule: "@every 1s"}
soaks:
  - {name: loop, targets: [clean], workload: w, mode: rate, rates: [$SOAK_RATE], duration: $SOAK_DURATION, max_in_flight: 8}
EOF

"$bin" run --config.file="$work/llmprobe.yaml" --web.listen-address="127.0.0.1:$port" \
  --web.enable-unauthenticated-writes --no-collector.gpu --shutdown.grace=5s \
  >"$work/daemon.out" 2>"$work/daemon.err" &
daemon=$!
pids+=("$daemon")
for _ in $(seq 100); do
  curl -fsS "$base/-/healthy" >/dev/null 2>&1 && break
  sleep 0.1
done
if ! curl -fsS "$base/-/healthy" >/dev/null 2>&1; then
  echo "leak-check: the daemon did not start:" >&2
  cat "$work/daemon.err" >&2
  exit 1
fi

# sum_metric PAGE NAME FILTER: the sum of NAME's series whose labels contain FILTER.
sum_metric() {
  awk -v name="$2" -v filter="$3" '
    $1 == name || index($1, name "{") == 1 { if (filter == "" || index($1, filter)) s += $NF }
    END { printf "%.0f", s }' <<<"$1"
}

echo "leak-check: DURATION=$DURATION WARMUP=$WARMUP SAMPLE=$SAMPLE soak ${SOAK_RATE} req/s x $SOAK_DURATION, daemon pid $daemon"
printf '%7s %10s %8s %8s %9s %9s %5s %5s\n' "t_s" goroutines rss_mib heap_mib probe_req soak_req soak runs
samples="$work/samples"
: >"$samples"
start=$(date +%s)
while :; do
  now=$(date +%s)
  t=$((now - start))
  # Keep a soak going: 202 starts one, 409 says it is still running.
  curl -sS -o /dev/null -X POST "$base/api/v1/soaks/loop/run" || true
  if ! page=$(curl -fsS "$base/metrics"); then
    echo "leak-check: FAIL: the daemon stopped answering at t=${t}s" >&2
    tail -20 "$work/daemon.err" >&2
    exit 1
  fi
  g=$(sum_metric "$page" go_goroutines "")
  rss=$(sum_metric "$page" process_resident_memory_bytes "")
  heap=$(sum_metric "$page" go_memstats_heap_inuse_bytes "")
  preq=$(sum_metric "$page" llmprobe_requests_total 'phase="probe"')
  sreq=$(sum_metric "$page" llmprobe_requests_total 'phase="soak"')
  running=$(sum_metric "$page" llmprobe_soak_running "")
  runs=$(curl -fsS "$base/api/v1/runs" | grep -c '"id":' || true)
  echo "$t $g $rss" >>"$samples"
  printf '%7d %10d %8.1f %8.1f %9d %9d %5d %5d\n' "$t" "$g" "$(awk -v b="$rss" 'BEGIN{print b/1048576}')" \
    "$(awk -v b="$heap" 'BEGIN{print b/1048576}')" "$preq" "$sreq" "$running" "$runs"
  ((t >= duration_s)) && break
  sleep "$sample_s"
done

# Stop the daemon as an operator would: SIGTERM, exit 0.
kill -TERM "$daemon"
set +e
wait "$daemon"
code=$?
set -e

awk -v warm="$warmup_s" -v gslack="$GOROUTINE_SLACK" -v factor="$RSS_FACTOR" -v rslack="$RSS_SLACK_MIB" \
  -v preq="$preq" -v sreq="$sreq" -v runs="$runs" -v code="$code" '
  function lowest(a, n,   i, m) {
    m = a[1]
    for (i = 2; i <= n; i++) if (a[i] < m) m = a[i]
    return m
  }
  { t[NR] = $1; g[NR] = $2; r[NR] = $3 }
  END {
    bg = 0; br = 0; after = 0; maxg = 0; maxr = 0
    for (i = 1; i <= NR; i++) {
      if (t[i] <= warm) { if (g[i] > bg) bg = g[i]; if (r[i] > br) br = r[i] }
      else { after++; if (g[i] > maxg) maxg = g[i]; if (r[i] > maxr) maxr = r[i] }
    }
    if (after < 3) { print "leak-check: FAIL: fewer than 3 samples after warm-up"; exit 1 }
    last = t[NR]; from = last - (last - warm) / 4
    n = 0
    for (i = 1; i <= NR; i++) if (t[i] > warm && (t[i] >= from || NR - i < 3)) { n++; lg[n] = g[i]; lr[n] = r[i] }
    fg = lowest(lg, n); fr = lowest(lr, n)
    gbound = bg + gslack; rbound = br * factor + rslack * 1048576
    printf "\nwarm-up baseline (max over the first %ds): %d goroutines, %.1f MiB RSS\n", warm, bg, br / 1048576
    printf "after warm-up: max %d goroutines, %.1f MiB RSS; last quarter (%d samples) lowest %d goroutines, %.1f MiB RSS\n", maxg, maxr / 1048576, n, fg, fr / 1048576
    printf "bounds: goroutines <= %d (baseline + %d), RSS <= %.1f MiB (baseline x %s + %d MiB)\n", gbound, gslack, rbound / 1048576, factor, rslack
    printf "work done: %d probe requests, %d soak requests, %d soak runs archived; daemon exit code %d after SIGTERM\n", preq, sreq, runs, code
    fail = 0
    if (fg > gbound) { print "FAIL: goroutines grew beyond the bound"; fail = 1 }
    if (fr > rbound) { print "FAIL: RSS grew beyond the bound"; fail = 1 }
    if (preq < 1 || sreq < 1) { print "FAIL: no probe or no soak requests: the check proved nothing"; fail = 1 }
    if (code != 0) { print "FAIL: the daemon exited " code " after SIGTERM"; fail = 1 }
    if (!fail) print "PASS"
    exit fail
  }' "$samples"
