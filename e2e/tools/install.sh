#!/usr/bin/env bash
# Installs the real binaries the e2e tests run, into a cache outside the repository keyed by version:
#   otelcol   OpenTelemetry Collector built by the Collector Builder from e2e/tools/otelcol-builder.yaml
#   jaeger    Jaeger v2 (Go module github.com/jaegertracing/jaeger v1.76.0), built from e2e/tools/jaeger
#   docker-compose  docker compose v2 (Go module github.com/docker/compose/v2), to validate docker-compose.yml
#   prometheus, redis-server and redis-cli (redis-tools: the Redis Cluster test tier creates its
#   cluster with it) from Debian's packages, when missing
# Prints nothing but progress; the paths are found again by e2e/tools/paths.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/paths.sh"

mkdir -p "$E2E_CACHE"

if [[ ! -x "$OTELCOL_BIN" ]]; then
  echo "== building otelcol $OTELCOL_VERSION into $OTELCOL_DIR"
  mkdir -p "$OTELCOL_DIR/src"
  GOBIN="$OTELCOL_DIR" go install "go.opentelemetry.io/collector/cmd/builder@v$BUILDER_VERSION"
  sed "s#^dist:#dist:\n  output_path: $OTELCOL_DIR/src#" "$here/otelcol-builder.yaml" >"$OTELCOL_DIR/manifest.yaml"
  "$OTELCOL_DIR/builder" --config "$OTELCOL_DIR/manifest.yaml" >"$OTELCOL_DIR/build.log" 2>&1 || {
    tail -50 "$OTELCOL_DIR/build.log"
    exit 1
  }
  mv "$OTELCOL_DIR/src/otelcol-claude" "$OTELCOL_BIN"
fi

if [[ ! -x "$JAEGER_BIN" ]]; then
  echo "== building jaeger $JAEGER_VERSION into $JAEGER_DIR"
  mkdir -p "$JAEGER_DIR/mod"
  cp "$here/jaeger/go.mod" "$JAEGER_DIR/mod/go.mod"
  (
    cd "$JAEGER_DIR/mod"
    go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@v$JAEGER_VERSION"
    go build -o "$JAEGER_BIN" github.com/jaegertracing/jaeger/cmd/jaeger
  ) >"$JAEGER_DIR/build.log" 2>&1 || {
    tail -50 "$JAEGER_DIR/build.log"
    exit 1
  }
fi

if [[ ! -x "$COMPOSE_BIN" ]]; then
  echo "== building docker compose $COMPOSE_VERSION into $COMPOSE_DIR (to validate docker-compose.yml)"
  mkdir -p "$COMPOSE_DIR/mod"
  (
    cd "$COMPOSE_DIR/mod"
    printf 'module claude-otel-middleware/e2e-compose\n\ngo 1.26\n' >go.mod
    export GOTOOLCHAIN="$COMPOSE_GOTOOLCHAIN"
    go get -tool "github.com/docker/compose/v2/cmd@v$COMPOSE_VERSION"
    go build -o "$COMPOSE_BIN" github.com/docker/compose/v2/cmd
  ) >"$COMPOSE_DIR/build.log" 2>&1 || {
    tail -50 "$COMPOSE_DIR/build.log"
    exit 1
  }
fi

missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
if ((${#missing[@]})); then
  echo "== apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the services it installs; the tests start their own on free ports.
  service prometheus stop >/dev/null 2>&1 || true
  service redis-server stop >/dev/null 2>&1 || true
fi

echo "otelcol: $OTELCOL_BIN"
echo "jaeger: $JAEGER_BIN"
echo "docker-compose: $COMPOSE_BIN"
echo "prometheus: $(command -v prometheus)"
echo "redis-server: $(command -v redis-server)"
echo "redis-cli: $(command -v redis-cli)"
