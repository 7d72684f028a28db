# Versions and cache paths of the e2e binaries (sourced by install.sh and .ci/run; read by the e2e tests
# through the same variables). Override the cache with CLAUDE_OTEL_E2E_CACHE.
BUILDER_VERSION=0.165.0
OTELCOL_VERSION=0.165.1
JAEGER_VERSION=1.76.0
E2E_CACHE="${CLAUDE_OTEL_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/claude-otel-middleware}"
OTELCOL_DIR="$E2E_CACHE/otelcol-core$BUILDER_VERSION-contrib$OTELCOL_VERSION"
OTELCOL_BIN="$OTELCOL_DIR/otelcol-claude"
JAEGER_DIR="$E2E_CACHE/jaeger-$JAEGER_VERSION"
JAEGER_BIN="$JAEGER_DIR/jaeger"
export OTELCOL_BIN JAEGER_BIN
# docker compose v2, only to validate docker-compose.yml (`docker compose config` needs no engine). Its
# module needs a newer Go than 1.26.8, which the go command fetches from the module proxy as a toolchain.
COMPOSE_VERSION=2.40.3
COMPOSE_GOTOOLCHAIN=go1.27.3
COMPOSE_DIR="$E2E_CACHE/compose-$COMPOSE_VERSION"
COMPOSE_BIN="$COMPOSE_DIR/docker-compose"
export COMPOSE_BIN
