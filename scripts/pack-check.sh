#!/usr/bin/env bash
# The package as a user gets it: packs a clean checkout of HEAD (`git archive`, so nothing
# untracked or built ships by accident; `prepack` builds dist/), lints the tarball (publint, attw,
# `npm publish --dry-run`), installs it into an empty project with its peers from the npm registry
# and, from there: the CLI without the demo's optional packages (exit 3, naming them), ESM imports
# and CommonJS require()s of every entry point, a TypeScript consumer (nodenext ESM and CommonJS,
# bundler), `npx claude-otel-middleware --help`, the demo with a shipped scenario by name and a
# scenario file by path, a real SDK request through createClaudeFetch against the fake API (ESM
# and CommonJS), the same on the oldest Node.js that require()s ESM (22.12.0, from the npm
# registry), and every examples/*.{ts,mts,mjs,cjs,js}. Prints "package: N passed, N failed".
# Usage: bash scripts/pack-check.sh   (PACK_CHECK_KEEP=1 keeps the temp folder)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$root/node_modules/.bin:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/pack-check.XXXXXX")
if [[ -z "${PACK_CHECK_KEEP:-}" ]]; then trap 'rm -rf "$work"' EXIT; else echo "pack-check: keeping $work"; fi
started=$SECONDS
passed=0
failed=0
step() { echo "-- $1 ($((SECONDS - started)) s)"; }
ok() { passed=$((passed + 1)); echo "   ok: $1"; }
fail() { failed=$((failed + 1)); echo "   FAILED: $1" >&2; }
# check NAME COMMAND…: runs it, shows its output on failure.
check() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then ok "$name"; else fail "$name"; echo "$out" | tail -40 | sed 's/^/     /' >&2; fi
}
npm_quiet=(--no-audit --no-fund --loglevel=error)
# The versions the repository tests with (its devDependencies), for the peers installed next to it.
dev_version() { node -p "require('$root/package.json').devDependencies['$1']"; }

step "pack a clean checkout of HEAD"
mkdir -p "$work/clone"
git -C "$root" archive --format=tar HEAD | tar -x -C "$work/clone"
ln -s "$root/node_modules" "$work/clone/node_modules"
(cd "$work/clone" && npm pack --pack-destination "$work" --loglevel=error >"$work/pack.txt")
tarball="$work/$(tail -1 "$work/pack.txt")"
version=$(node -p "require('$root/package.json').version")
echo "   $(basename "$tarball"): $(du -k "$tarball" | cut -f1) KiB, $(tar tzf "$tarball" | wc -l) files"
listing=$(tar tzf "$tarball")
for f in package/dist/index.js package/dist/index.cjs package/dist/index.d.ts package/dist/index.d.cts \
  package/dist/cli/main.js package/src/index.ts package/LICENSE package/README.md package/CHANGELOG.md \
  package/scenarios/flaky.yaml package/dashboards/claude-overview.json package/otel-collector.yaml \
  package/docker-compose.yml package/stack/prometheus.yml; do
  if grep -qx "$f" <<<"$listing"; then :; else fail "the tarball has $f"; fi
done
if grep -q '^package/\(test\|bench\|e2e\|node_modules\|\.ci\|\.tmp\)/' <<<"$listing"; then
  fail "the tarball has no tests, benchmarks or local folders"
else ok "the tarball has the code, types, sources, CLI, stack files, LICENSE, README, CHANGELOG and nothing else"; fi

step "publint, attw, npm publish --dry-run"
check "publint --strict" publint run "$tarball" --strict
check "attw (node10, node16 ESM and CommonJS, bundler; every subpath)" attw "$tarball" --format table-flipped
check "npm publish --dry-run" npm publish --dry-run "$tarball" --loglevel=error

step "install the tarball alone, then with @anthropic-ai/sdk"
app="$work/app"
mkdir -p "$app"
cd "$app"
echo '{ "name": "pack-check-app", "private": true, "type": "module" }' >package.json
# demo_missing NAME NEEDS INSTALL: the demo exits 3 with one message naming every missing package.
demo_missing() {
  local out code
  set +e
  out=$(npx --no-install claude-otel-middleware demo --duration 1 2>&1)
  code=$?
  set -e
  if [[ $code == 3 && $out == *"The demo needs $2, which"* && $out == *"npm install $3"* ]]; then
    ok "$1"
  else
    fail "$1 (exit $code)"
    echo "$out" | sed 's/^/     /' >&2
  fi
}
npm install "${npm_quiet[@]}" "$tarball" >/dev/null
demo_missing "demo with the package alone exits 3 naming the three packages it needs" \
  "@anthropic-ai/sdk, @opentelemetry/sdk-trace and @opentelemetry/sdk-metrics" \
  "@anthropic-ai/sdk @opentelemetry/sdk-trace @opentelemetry/sdk-metrics"
npm install "${npm_quiet[@]}" "@anthropic-ai/sdk@$(dev_version @anthropic-ai/sdk)" >/dev/null
demo_missing "demo with the package and the SDK exits 3 naming the OpenTelemetry SDK packages" \
  "@opentelemetry/sdk-trace and @opentelemetry/sdk-metrics" "@opentelemetry/sdk-trace @opentelemetry/sdk-metrics"

step "install the peers the examples and the demo use"
peers=(@opentelemetry/api @opentelemetry/sdk-node @opentelemetry/sdk-trace @opentelemetry/sdk-metrics
  @opentelemetry/context-async-hooks pino ioredis)
# …and any other package an example imports (by name, with the repository's version).
if compgen -G "$root/examples/*" >/dev/null; then
  while read -r name; do
    [[ $name == claude-otel-middleware* || " ${peers[*]} @anthropic-ai/sdk " == *" $name "* ]] || peers+=("$name")
  done < <(grep -ohE "from '(@[^'/]+/[^'/]+|[^'@./][^'/]*)" "$root"/examples/* | sed "s/^from '//" | grep -v '^node:' | sort -u)
fi
specs=()
for p in "${peers[@]}"; do specs+=("$p@$(dev_version "$p")"); done
npm install "${npm_quiet[@]}" "${specs[@]}" >/dev/null
echo "   installed: ${specs[*]}"

step "ESM, CommonJS and TypeScript consumers"
cat >esm.mjs <<'EOF'
import assert from 'node:assert/strict';
import { createClaudeFetch, VERSION, METRICS } from 'claude-otel-middleware';
import { startFakeClaude } from 'claude-otel-middleware/testing';
import { RedisFleetStore } from 'claude-otel-middleware/redis';
import { setup } from 'claude-otel-middleware/setup';
import pkg from 'claude-otel-middleware/package.json' with { type: 'json' };
assert.equal(typeof createClaudeFetch, 'function');
assert.equal(typeof startFakeClaude, 'function');
assert.equal(typeof RedisFleetStore, 'function');
assert.equal(typeof setup, 'function');
assert.equal(VERSION, pkg.version);
assert.equal(typeof METRICS.OPERATION_DURATION.name, 'string');
EOF
check "ESM import of every entry point" node esm.mjs
cat >cjs.cjs <<'EOF'
const assert = require('node:assert/strict');
const m = require('claude-otel-middleware');
assert.equal(typeof m.createClaudeFetch, 'function');
assert.equal(typeof require('claude-otel-middleware/testing').startFakeClaude, 'function');
assert.equal(typeof require('claude-otel-middleware/redis').RedisFleetStore, 'function');
assert.equal(typeof require('claude-otel-middleware/setup').setup, 'function');
assert.throws(() => require('claude-otel-middleware/register'), /node --import claude-otel-middleware\/register/);
// One module instance for require() and import: no dual-package hazard.
import('claude-otel-middleware').then((n) => assert.equal(n.createClaudeFetch, m.createClaudeFetch));
EOF
check "CommonJS require() of every entry point (register: a message saying --import)" node cjs.cjs
check "node --import claude-otel-middleware/register" env OTEL_SDK_DISABLED=true node --import claude-otel-middleware/register -e "process.exit(0)"
cat >consumer.mts <<'EOF'
import { createClaudeFetch, type CacheOptions, type ClaudeFetchOptions, type RegionsOptions } from 'claude-otel-middleware';
import { type FakeClaude, startFakeClaude } from 'claude-otel-middleware/testing';
import type { RedisFleetStoreOptions } from 'claude-otel-middleware/redis';
import type { SetupOptions } from 'claude-otel-middleware/setup';
const regions: RegionsOptions = { list: [{ name: 'a', baseURL: 'http://127.0.0.1:1' }], probe: false };
const cache: CacheOptions = { ttlMs: 1000 };
const options: ClaudeFetchOptions = { retry: { maxAttempts: 2 }, regions, cache, resume: { maxResumptions: 1 } };
const store: RedisFleetStoreOptions = { prefix: 'x:' };
const setupOptions: SetupOptions = { serviceName: 's' };
const fake: Promise<FakeClaude> = startFakeClaude();
export { createClaudeFetch, fake, options, setupOptions, store };
EOF
cat >consumer.cts <<'EOF'
import { createClaudeFetch, type ClaudeFetchOptions } from 'claude-otel-middleware';
import { startFakeClaude } from 'claude-otel-middleware/testing';
const options: ClaudeFetchOptions = { breaker: true, timeouts: { totalMs: 1000 } };
export const fetch = createClaudeFetch(options);
export const start = startFakeClaude;
EOF
tsc_flags=(--noEmit --strict --skipLibCheck --types node --typeRoots "$root/node_modules/@types" --target es2023)
check "TypeScript: module nodenext, ESM and CommonJS files" tsc "${tsc_flags[@]}" --module nodenext consumer.mts consumer.cts
check "TypeScript: moduleResolution bundler" tsc "${tsc_flags[@]}" --module preserve --moduleResolution bundler consumer.mts

step "the CLI"
check "npx claude-otel-middleware --help" bash -c 'npx --no-install claude-otel-middleware --help | grep -q "demo"'
check "npx claude-otel-middleware --version" bash -c "[[ \$(npx --no-install claude-otel-middleware --version) == $version ]]"
cli_env=(env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9 ANTHROPIC_API_KEY=)
check "demo --scenario flaky (a shipped scenario, by name, outside the repository)" \
  bash -c "${cli_env[*]} npx --no-install claude-otel-middleware demo --scenario flaky --duration 2 --concurrency 2 | grep -q 'Scenario flaky'"
cp "$root/scenarios/outage.yaml" ./my-scenario.yaml
check "demo --scenario ./my-scenario.yaml (a path)" \
  bash -c "${cli_env[*]} npx --no-install claude-otel-middleware demo --scenario ./my-scenario.yaml --duration 2 --concurrency 2 | grep -q '^Summary'"

step "a real SDK request through createClaudeFetch against the fake API"
cat >request.mjs <<'EOF'
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { createClaudeFetch } from 'claude-otel-middleware';
import { startFakeClaude } from 'claude-otel-middleware/testing';
const exporter = new InMemorySpanExporter();
const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const fake = await startFakeClaude({ script: [{ status: 529 }, null] });
const fetch = createClaudeFetch({ tracerProvider, retry: true });
const client = new Anthropic({ apiKey: 'test-key', baseURL: fake.url, fetch });
const message = await client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 32, messages: [{ role: 'user', content: 'hi' }] });
assert.equal(message.type, 'message');
const attempts = exporter.getFinishedSpans().filter((s) => s.name === 'POST /v1/messages');
assert.deepEqual(attempts.map((s) => s.attributes['http.response.status_code']), [529, 200]);
fetch.shutdown();
await fake.close();
console.log(`${process.version}: ${attempts.length} attempt spans`);
EOF
cat >request.cjs <<'EOF'
const assert = require('node:assert/strict');
const Anthropic = require('@anthropic-ai/sdk');
const { createClaudeFetch } = require('claude-otel-middleware');
const { startFakeClaude } = require('claude-otel-middleware/testing');
(async () => {
  const fake = await startFakeClaude();
  const client = new Anthropic({ apiKey: 'test-key', baseURL: fake.url, fetch: createClaudeFetch({ retry: true }) });
  const message = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(message.type, 'message');
  assert.equal(fake.requests.length, 1);
  await fake.close();
})().catch((error) => { console.error(error); process.exit(1); });
EOF
check "ESM: a 529 then a 200, two attempt spans" node request.mjs
check "CommonJS: a request through require()" node request.cjs

step "on Node.js 22.12.0, the oldest that require()s ESM"
case "$(uname -m)" in x86_64 | amd64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) arch= ;; esac
node22_dir="$root/.tmp/node-22.12.0"
if [[ -n $arch ]] && npm install --prefix "$node22_dir" --no-save "${npm_quiet[@]}" "node-linux-$arch@22.12.0" >/dev/null 2>&1; then
  node22="$node22_dir/node_modules/node-linux-$arch/bin/node"
  check "Node $("$node22" --version): ESM import and request" "$node22" request.mjs
  check "Node $("$node22" --version): CommonJS require() and request" "$node22" request.cjs
  check "Node $("$node22" --version): require() of every entry point" "$node22" cjs.cjs
else
  fail "install node-linux-$arch@22.12.0 from the npm registry"
fi

step "the examples, against the installed package"
count=0
for example in "$root"/examples/*.ts "$root"/examples/*.mts "$root"/examples/*.mjs "$root"/examples/*.cjs "$root"/examples/*.js; do
  [[ -e $example ]] || continue
  count=$((count + 1))
  mkdir -p examples
  cp "$example" examples/
  check "examples/$(basename "$example")" env -u ANTHROPIC_API_KEY -u ANTHROPIC_BASE_URL \
    node --disable-warning=ExperimentalWarning "examples/$(basename "$example")"
done
echo "   $count examples"
if [[ -e examples/commonjs.cjs ]]; then
  check "examples/commonjs.cjs prints the answer" bash -c 'node examples/commonjs.cjs | grep -q "^answer: [^ ]"'
fi

echo "pack-check took $((SECONDS - started)) s"
echo "package: $passed passed, $failed failed"
[[ $failed == 0 ]]
