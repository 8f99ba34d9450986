#!/usr/bin/env bash
# The project's test command (README and .ci/run call it): installs the
# pinned test tools into a cache outside the clone, then runs vet, the test
# suite (with the race detector on the packages that send requests) and a
# short run of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."

export LLMPROBE_TOOLS
LLMPROBE_TOOLS=$(scripts/install-tools.sh)

echo "== gofmt / go vet"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed: $unformatted" >&2
  exit 1
fi
go vet ./...

echo "== go test"
# One package at a time: the suite holds measurements against the simulator
# (a stress procedure's drift, a trace's schedule lag, a sweep's capacity)
# that packages running beside each other on a 2-core machine would turn
# into noise. It costs minutes, not flakes.
go test -count=1 -p 1 ./...

echo "== go test -race (packages that send or serve requests)"
go test -count=1 -p 1 -race ./probe/ ./probe/h1/ ./schedule/ ./daemon/ ./load/ ./sim/ ./stress/ ./servermetrics/ ./archive/
go test -count=1 -race -run 'TestHostile|TestShutdown|TestFailures' ./cli/

echo "== fuzz (short)"
FUZZTIME="${FUZZTIME:-10s}"
go test -run='^$' -fuzz='^FuzzSSEReader$' -fuzztime="$FUZZTIME" ./probe/
go test -run='^$' -fuzz='^FuzzLoad$' -fuzztime="$FUZZTIME" ./config/
go test -run='^$' -fuzz='^FuzzLoad$' -fuzztime="$FUZZTIME" ./tokenizer/
go test -run='^$' -fuzz='^FuzzPoolingResponse$' -fuzztime="$FUZZTIME" ./probe/
go test -run='^$' -fuzz='^FuzzParseLine$' -fuzztime="$FUZZTIME" ./dataset/
go test -run='^$' -fuzz='^FuzzParse$' -fuzztime="$FUZZTIME" ./servermetrics/
go test -run='^$' -fuzz='^FuzzWriteProcedureJSON$' -fuzztime="$FUZZTIME" ./report/
go test -run='^$' -fuzz='^FuzzToolCallStream$' -fuzztime="$FUZZTIME" ./probe/
go test -run='^$' -fuzz='^FuzzChunkScan$' -fuzztime="$FUZZTIME" ./probe/
go test -run='^$' -fuzz='^FuzzClientStream$' -fuzztime="$FUZZTIME" ./probe/
go test -run='^$' -fuzz='^FuzzResponse$' -fuzztime="$FUZZTIME" ./probe/h1/
go test -run='^$' -fuzz='^FuzzReadTrace$' -fuzztime="$FUZZTIME" ./dataset/
go test -run='^$' -fuzz='^FuzzConversationLine$' -fuzztime="$FUZZTIME" ./dataset/
