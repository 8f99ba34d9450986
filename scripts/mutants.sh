#!/usr/bin/env bash
# Mutation testing of the measuring core: makes one small change at a time in
# a package's code (a < turned into <=, a + into a -, a condition negated...)
# and runs that package's tests; a change the tests do not notice "lived".
# Prints, per package, the mutants killed and lived and the score
# (killed / (killed + lived)), then every lived mutant as file:line:col.
#
#   scripts/mutants.sh                 # probe load collector config schedule
#   scripts/mutants.sh load config     # some packages
#   MUTANTS_FULL=1 scripts/mutants.sh  # the whole suites, slow tests included
#
# The tool is go-gremlins, installed into a cache outside the clone keyed by
# version (as scripts/install-tools.sh caches promtool). It runs on a snapshot
# of the working tree (tracked and untracked, not ignored, files) in a
# temporary folder, so edits made meanwhile neither disturb it nor get
# mutated. Not part of scripts/test.sh: see the README's Development section
# for its run time.
#
# Environment:
#   GREMLINS_VERSION       (v0.6.0)
#   LLMPROBE_CACHE         ($HOME/.cache/llmprobe)
#   MUTANTS_WORKERS        mutants tested at once (1; each runs go test)
#   MUTANTS_TIMEOUT_COEFF  a mutant's test run may take this many times the
#                          unmutated coverage run (gremlins' coefficient; 3)
#   MUTANTS_FULL=1         do not pass -short (by default the slow tests that
#                          skip under -short, such as load's 13-second sweep
#                          against the simulator, are left out; the normal
#                          suite is unchanged)
#   MUTANTS_RUN, MUTANTS_SKIP  regexps passed to go test as -run / -skip
#   MUTANTS_EXCLUDE        regexp of files not to mutate (gremlins
#                          --exclude-files; paths are relative to the
#                          package), e.g. '^(kinds|models)\.go$'
#   MUTANTS_OUT            folder for the JSON reports (a temporary one)
#   MUTANTS_REV            test a commit (git archive) instead of the working
#                          tree, e.g. to compare with a run before new tests
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

GREMLINS_VERSION="${GREMLINS_VERSION:-v0.6.0}"
cache="${LLMPROBE_CACHE:-$HOME/.cache/llmprobe}/gremlins-${GREMLINS_VERSION}"
if [ ! -x "$cache/gremlins" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d)
  echo "installing gremlins ${GREMLINS_VERSION} into $cache" >&2
  (cd "$tmp" && GOBIN="$tmp" GOFLAGS=-buildvcs=false go install \
    "github.com/go-gremlins/gremlins/cmd/gremlins@${GREMLINS_VERSION}") >&2
  mv "$tmp/gremlins" "$cache/"
  rmdir "$tmp"
fi

# The report reader: a small Go program next to the binary (Go is all this
# script needs).
cat >"$cache/report.go" <<'EOF'
// Reads gremlins JSON reports (one per package) and prints the score table
// and the lived mutants.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type report struct {
	Files []struct {
		Name      string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
	Elapsed float64 `json:"elapsed_time"`
}

func main() {
	fmt.Printf("%-10s %7s %7s %6s %9s %11s %10s %7s %8s\n", "package", "mutants", "killed", "lived", "timed out", "not covered", "not viable", "score", "time")
	var lived []string
	for _, path := range os.Args[1:] {
		pkg := strings.TrimSuffix(filepath.Base(path), ".json")
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Printf("%-10s (no report: %v)\n", pkg, err)
			continue
		}
		var r report
		if err := json.Unmarshal(b, &r); err != nil {
			fmt.Printf("%-10s (bad report: %v)\n", pkg, err)
			continue
		}
		n := map[string]int{}
		total := 0
		for _, f := range r.Files {
			for _, m := range f.Mutations {
				n[m.Status]++
				total++
				if m.Status == "LIVED" {
					lived = append(lived, fmt.Sprintf("%s/%s:%d:%d %s", pkg, f.Name, m.Line, m.Column, m.Type))
				}
			}
		}
		score := "-"
		if d := n["KILLED"] + n["LIVED"]; d > 0 {
			score = fmt.Sprintf("%.1f%%", 100*float64(n["KILLED"])/float64(d))
		}
		fmt.Printf("%-10s %7d %7d %6d %9d %11d %10d %7s %7.0fs\n", pkg, total, n["KILLED"], n["LIVED"], n["TIMED OUT"], n["NOT COVERED"], n["NOT VIABLE"], score, r.Elapsed)
	}
	sort.Strings(lived)
	fmt.Printf("\nlived mutants (%d):\n", len(lived))
	for _, l := range lived {
		fmt.Println("  " + l)
	}
}
EOF

pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(probe load collector config schedule)

snap=$(mktemp -d "${TMPDIR:-/tmp}/llmprobe-mutants-XXXXXX")
trap 'rm -rf "$snap"' EXIT
mkdir "$snap/src"
if [ -n "${MUTANTS_REV:-}" ]; then
  git archive "${MUTANTS_REV}" | tar -xf - -C "$snap/src"
else
  git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"
  done | tar --null -T - -cf - | tar -xf - -C "$snap/src"
fi
out="${MUTANTS_OUT:-$snap/reports}"
mkdir -p "$out"

goflags="${GOFLAGS:-} -buildvcs=false"
[ "${MUTANTS_FULL:-0}" = 1 ] || goflags="$goflags -short"
[ -z "${MUTANTS_RUN:-}" ] || goflags="$goflags -run=${MUTANTS_RUN}"
[ -z "${MUTANTS_SKIP:-}" ] || goflags="$goflags -skip=${MUTANTS_SKIP}"

start=$SECONDS
reports=()
for p in "${pkgs[@]}"; do
  p=${p#./}
  p=${p%/}
  echo "== $p (GOFLAGS=$goflags, workers ${MUTANTS_WORKERS:-1})" >&2
  t0=$SECONDS
  # gremlins copies the snapshot into its own folder per worker and there
  # runs go test (-failfast, with a timeout) on the mutated package only.
  exclude=()
  [ -z "${MUTANTS_EXCLUDE:-}" ] || exclude=(--exclude-files "${MUTANTS_EXCLUDE}")
  (cd "$snap/src" && GOFLAGS="$goflags" nice -n 10 "$cache/gremlins" unleash "${exclude[@]}" \
    --workers "${MUTANTS_WORKERS:-1}" \
    --timeout-coefficient "${MUTANTS_TIMEOUT_COEFF:-3}" \
    --output "$out/${p//\//-}.json" \
    --output-statuses lt \
    "$snap/src/$p") >&2 || echo "gremlins failed on $p (is its suite green?)" >&2
  echo "   $p: $((SECONDS - t0)) s" >&2
  reports+=("$out/${p//\//-}.json")
done
echo
(cd "$cache" && GOFLAGS=-buildvcs=false go run report.go "${reports[@]}")
echo
echo "total: $((SECONDS - start)) s; reports in $out" >&2
if [ -z "${MUTANTS_OUT:-}" ]; then
  echo "(set MUTANTS_OUT to keep the JSON reports)" >&2
fi
cd "$root"
