#!/usr/bin/env bash
# Installs the pinned test tools (promtool, prometheus) into a cache outside the
# clone, keyed by version, so a clean clone builds them once per machine.
# Prints the directory that holds the binaries.
set -euo pipefail
PROM_VERSION="${PROM_VERSION:-v0.316.0}" # Prometheus 3.x (module versions are v0.3xx)
cache="${LLMPROBE_CACHE:-$HOME/.cache/llmprobe}/prometheus-${PROM_VERSION}"
if [ ! -x "$cache/promtool" ] || [ ! -x "$cache/prometheus" ]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d)
  echo "building prometheus/promtool ${PROM_VERSION} into $cache (several minutes the first time)" >&2
  GOBIN="$tmp" GOFLAGS=-buildvcs=false go install \
    "github.com/prometheus/prometheus/cmd/promtool@${PROM_VERSION}" \
    "github.com/prometheus/prometheus/cmd/prometheus@${PROM_VERSION}" >&2
  mv "$tmp/promtool" "$tmp/prometheus" "$cache/"
  rmdir "$tmp"
fi
# Headless Chromium renders the status page in the tests (Debian's package;
# the tests run as root in CI, as the sessions do).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's chromium for the status page test" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core) >&2
fi
echo "$cache"
