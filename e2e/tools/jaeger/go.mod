// Wrapper module that pins the Jaeger v2 binary for the e2e tests (module v1.76.0 = Jaeger v2.13).
// Jaeger's own go.mod has a replace directive, so it cannot be `go install`ed directly; this module
// names it as a tool and e2e/tools/install.sh builds it with `go build` into the cache.
module claude-otel-middleware/e2e-jaeger

go 1.26
