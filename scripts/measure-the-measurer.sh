#!/bin/sh
# Measures the measurer: llmprobe's load engine against the simulator
# (TTFT 100 ms, ITL 10 ms, no jitter) at 1, 100, 1000 and 2000 concurrent
# streams and at 200 requests/s, printing the client's timing error against
# the simulator's own send times, the simulator's lag, each side's CPU per
# token and the client's memory per stream. The simulator runs in a child
# process; on a machine with two CPUs or more each side is pinned to one.
# Extra arguments go to the measurer (see go run ./cmd/measurer -h), for
# example -duration 30s or -scenarios streams=1000.
set -eu
cd "$(dirname "$0")/.."
bin="${TMPDIR:-/tmp}/llmprobe-measurer"
go build -o "$bin" ./cmd/measurer
exec "$bin" "$@"
