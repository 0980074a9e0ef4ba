#!/usr/bin/env bash
# Starts the demo upstreams, then meshd with the demo config in the
# foreground. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
./bin/demo-upstream &
up=$!
trap 'kill $up 2>/dev/null; wait $up 2>/dev/null' EXIT
sleep 0.3
echo "meshd: listener http://127.0.0.1:10000  admin http://127.0.0.1:9901"
echo "try:   curl localhost:10000/api/hello   bin/meshctl clusters"
./bin/meshd -c conf/examples/demo.yaml ${MESHD_ENV:+--env "$MESHD_ENV"}
