#!/bin/sh
# Measures the measurer: llmprobe's load engine against the simulator
# (TTFT 100 ms, ITL 10 ms, no jitter) at 1, 100 and 1000 concurrent streams
# and at 50 and 200 requests/s, printing measured - injected TTFT and ITL,
# schedule lag, client CPU per 1,000 output tokens and RSS per stream.
# The simulator runs in a child process. Extra arguments go to the
# measurer (see go run ./cmd/measurer -h), for example -duration 30s.
set -eu
cd "$(dirname "$0")/.."
bin="${TMPDIR:-/tmp}/llmprobe-measurer"
go build -o "$bin" ./cmd/measurer
exec "$bin" "$@"
