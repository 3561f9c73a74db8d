#!/usr/bin/env bash
# System packages the test suite needs beyond Python: curl and openssl (the real clients the
# learner uses), jq (the task scripts in tests/tasks read JSON with it, as Istio's pages do) and
# Debian's chromium (the browser test). Installed with apt-get when we are
# root; otherwise we say exactly what is missing.
set -euo pipefail
need=()
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v jq >/dev/null || need+=(jq)
command -v chromium >/dev/null || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "==> apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "missing system packages: ${need[*]} -- install them (e.g. sudo apt-get install ${need[*]})" >&2
  exit 1
fi
