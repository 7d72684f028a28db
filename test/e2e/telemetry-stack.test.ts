/**
 * The bundled telemetry stack, end to end, with the real binaries: Jaeger v2, the OpenTelemetry
 * Collector and Prometheus run natively from the repository's own config files (otel-collector.yaml,
 * stack/jaeger.yaml, stack/prometheus.yml — the files docker-compose.yml mounts), and a fault-injected
 * workload runs through the real SDK with createClaudeFetch and `claude-otel-middleware/register`
 * exporting over OTLP/HTTP. Then: Jaeger has one attempt span per request the fake API received, with
 * the telemetry reference's attributes; every query of every dashboard panel returns data from
 * Prometheus; the collector failed no export; the library's log events reached the collector.
 *
 * Binaries come from e2e/tools/install.sh (npm run test:e2e runs it first).
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { panelQueries } from '../../scripts/dashboards/queries.js';
import { ATTRIBUTES as A, SPANS } from '../../src/telemetry/names.js';
import {
  allLogs,
  getJson,
  type Managed,
  ROOT,
  startOnFreePorts,
  startProcess,
  stopAll,
  toolPaths,
  waitFor,
  waitHttpOk,
} from './stack.js';

const SERVICE = 'claude-e2e';
const API_KEY = 'sk-ant-api03-E2E-FAKE-SECRET-7c1d9e0f';

interface JaegerTag {
  key: string;
  type: string;
  value: unknown;
}
interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  tags: JaegerTag[];
  logs: { fields: JaegerTag[] }[];
  references: { refType: string; spanID: string }[];
}
interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
}
interface Summary {
  received: Record<string, number>;
  requestIds: string[];
  errors: string[];
}

let work: string;
let collector: Managed;
let ports: Record<string, number>;
let summary: Summary;
let failed = false;
let ready = false;

const tag = (span: JaegerSpan, key: string): unknown => span.tags.find((t) => t.key === key)?.value;

beforeAll(async () => {
  const tools = toolPaths();
  for (const [name, path] of Object.entries({ otelcol: tools.otelcol, jaeger: tools.jaeger })) {
    if (!existsSync(path)) throw new Error(`${name} not found at ${path}: run bash e2e/tools/install.sh`);
  }
  if (!tools.prometheus) throw new Error('prometheus not on PATH: run bash e2e/tools/install.sh');

  work = mkdtempSync(join(tmpdir(), 'claude-e2e-'));
  const logDir = join(ROOT, '.tmp', 'e2e');
  const lo = (port: number | undefined) => `127.0.0.1:${port}`;
  // Each process gets its ports just before it starts, and is started again on new ones when
  // another process took one in between (race-free on a busy machine: see startOnFreePorts).

  // Jaeger, from stack/jaeger.yaml.
  const jaegerRun = await startOnFreePorts(
    ['jaegerOtlp', 'jaegerQuery', 'jaegerQueryGrpc', 'jaegerHealth', 'jaegerTelemetry'] as const,
    (p) =>
      startProcess('jaeger', tools.jaeger, ['--config', join(ROOT, 'stack/jaeger.yaml')], {
        logDir,
        env: {
          JAEGER_OTLP_GRPC_ENDPOINT: lo(p.jaegerOtlp),
          JAEGER_QUERY_HTTP_ENDPOINT: lo(p.jaegerQuery),
          JAEGER_QUERY_GRPC_ENDPOINT: lo(p.jaegerQueryGrpc),
          JAEGER_HEALTH_ENDPOINT: lo(p.jaegerHealth),
          JAEGER_TELEMETRY_HOST: '127.0.0.1',
          JAEGER_TELEMETRY_PORT: String(p.jaegerTelemetry),
        },
      }),
    async (p, m) => {
      await waitHttpOk('Jaeger health', `http://${lo(p.jaegerHealth)}/status`, m);
      await waitHttpOk('Jaeger query', `http://${lo(p.jaegerQuery)}/api/services`, m);
    },
  );
  // The collector, from otel-collector.yaml; its logs pipeline prints every record (debug exporter).
  const collectorRun = await startOnFreePorts(
    ['otlpGrpc', 'otlpHttp', 'promExporter', 'collectorHealth', 'collectorTelemetry'] as const,
    (p) =>
      startProcess('otelcol', tools.otelcol, ['--config', join(ROOT, 'otel-collector.yaml')], {
        logDir,
        env: {
          OTLP_GRPC_ENDPOINT: lo(p.otlpGrpc),
          OTLP_HTTP_ENDPOINT: lo(p.otlpHttp),
          JAEGER_OTLP_ENDPOINT: lo(jaegerRun.ports.jaegerOtlp),
          PROMETHEUS_EXPORTER_ENDPOINT: lo(p.promExporter),
          HEALTH_CHECK_ENDPOINT: lo(p.collectorHealth),
          COLLECTOR_TELEMETRY_HOST: '127.0.0.1',
          COLLECTOR_TELEMETRY_PORT: String(p.collectorTelemetry),
          DEBUG_VERBOSITY: 'detailed',
        },
      }),
    (p, m) => waitHttpOk('collector health', `http://${lo(p.collectorHealth)}/`, m),
  );
  collector = collectorRun.managed;
  // Prometheus, from stack/prometheus.yml (copied unchanged) with loopback targets beside it.
  writeFileSync(join(work, 'prometheus.yml'), readFileSync(join(ROOT, 'stack/prometheus.yml')));
  mkdirSync(join(work, 'targets'));
  writeFileSync(
    join(work, 'targets', 'e2e.yml'),
    `- targets: ['${lo(collectorRun.ports.promExporter)}', '${lo(collectorRun.ports.collectorTelemetry)}']\n`,
  );
  const prometheusRun = await startOnFreePorts(
    ['prometheus'] as const,
    (p) =>
      startProcess(
        'prometheus',
        tools.prometheus,
        [
          `--config.file=${join(work, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(work, 'data')}`,
          `--web.listen-address=${lo(p.prometheus)}`,
        ],
        { logDir, cwd: work },
      ),
    (p, m) => waitHttpOk('Prometheus ready', `http://${lo(p.prometheus)}/-/ready`, m),
  );
  ports = { ...jaegerRun.ports, ...collectorRun.ports, ...prometheusRun.ports };

  // The workload, in its own process with register, exporting over OTLP/HTTP to the collector.
  const out = join(work, 'summary.json');
  const workload = startProcess(
    'workload',
    process.execPath,
    ['--import', 'tsx', '--import', './src/register.ts', 'test/e2e/fixtures/workload.ts'],
    {
      logDir,
      env: {
        OTEL_SERVICE_NAME: SERVICE,
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://${lo(ports.otlpHttp)}`,
        OTEL_METRIC_EXPORT_INTERVAL: '1000',
        OTEL_BSP_SCHEDULE_DELAY: '200',
        WORKLOAD_API_KEY: API_KEY,
        WORKLOAD_OUT: out,
      },
    },
  );
  const code = await new Promise<number | null>((resolve) => workload.process.once('exit', resolve));
  if (code !== 0) throw new Error(`workload exited with ${code}:\n${workload.tail()}`);
  summary = JSON.parse(readFileSync(out, 'utf8')) as Summary;
  ready = true;
}, 240_000);

afterEach((context) => {
  if (context.task.result?.state === 'fail') failed = true;
});

afterAll(async () => {
  if (failed || !ready) console.error(`e2e processes' logs:\n${allLogs()}`);
  await stopAll();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('telemetry stack (collector, Jaeger, Prometheus from the repository configs)', () => {
  it('Jaeger has one attempt span per request the fake API received, with the reference attributes', async () => {
    const expected = Object.values(summary.received).reduce((a, b) => a + b, 0);
    expect(expected).toBeGreaterThan(20);
    const query = `http://127.0.0.1:${ports.jaegerQuery}/api/traces?service=${SERVICE}&limit=2000&lookback=1h`;
    const attempts = await waitFor(
      `${expected} attempt spans in Jaeger`,
      async () => {
        const { data } = await getJson<{ data: JaegerTrace[] }>(query);
        const spans = data
          .flatMap((t) => t.spans)
          .filter((s) => s.operationName === 'POST /v1/messages' && tag(s, 'span.kind') === 'client');
        return spans.length >= expected ? spans : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    expect(attempts).toHaveLength(expected);

    // Every request id the fake API answered with is on exactly one attempt span.
    const ids = attempts.map((s) => tag(s, A.ANTHROPIC_REQUEST_ID.name)).filter(Boolean);
    expect(new Set(ids)).toEqual(new Set(summary.requestIds));
    expect(ids).toHaveLength(summary.requestIds.length);

    for (const span of attempts) {
      expect(tag(span, A.GEN_AI_REQUEST_MODEL.name)).toMatch(/^claude-/);
      expect(['us-east', 'eu-west', 'ap-south']).toContain(tag(span, A.ANTHROPIC_REGION.name));
      expect(typeof tag(span, A.HTTP_REQUEST_RESEND_COUNT.name)).toBe('number');
      expect(tag(span, 'otel.scope.name')).toBe('claude-otel-middleware');
    }
    // Retried attempts, retry-after, token usage (also on streams), the region each went to.
    expect(attempts.some((s) => Number(tag(s, A.HTTP_REQUEST_RESEND_COUNT.name)) > 0)).toBe(true);
    expect(attempts.some((s) => tag(s, A.ANTHROPIC_RETRY_AFTER.name) === 1)).toBe(true);
    const usage = attempts.filter((s) => Number(tag(s, A.GEN_AI_USAGE_OUTPUT_TOKENS.name)) > 0);
    expect(usage.length).toBeGreaterThan(5);
    expect(usage.some((s) => tag(s, A.GEN_AI_RESPONSE_ID.name) !== undefined)).toBe(true);
    expect(new Set(attempts.map((s) => tag(s, A.ANTHROPIC_REGION.name)))).toEqual(
      new Set(
        Object.entries(summary.received)
          .filter(([, n]) => n > 0)
          .map(([region]) => region),
      ),
    );
    // Each attempt hangs under an operation span (or the SDK's call span) of the same trace.
    const { data } = await getJson<{ data: JaegerTrace[] }>(query);
    const byId = new Map(data.flatMap((t) => t.spans).map((s) => [s.spanID, s]));
    for (const span of attempts) {
      const parent = byId.get(span.references.find((r) => r.refType === 'CHILD_OF')?.spanID ?? '');
      expect(parent?.operationName).toMatch(/^(chat|anthropic\.)/);
    }
    // Region probes are traced apart from the attempts.
    expect(data.flatMap((t) => t.spans).some((s) => s.operationName === SPANS.PROBE.name)).toBe(true);
    // No secret reached Jaeger.
    expect(JSON.stringify(data)).not.toContain(API_KEY);
  });

  it('every query of every dashboard panel returns data from Prometheus', async () => {
    const dashboards = readdirSync(join(ROOT, 'dashboards')).filter((f) => f.endsWith('.json'));
    expect(dashboards.length).toBeGreaterThanOrEqual(2);
    const queries = dashboards.flatMap((file) =>
      panelQueries(JSON.parse(readFileSync(join(ROOT, 'dashboards', file), 'utf8')) as object, {
        datasource: 'prometheus',
        service: SERVICE,
        model: '.*',
        region: '.*',
      }),
    );
    expect(queries.length).toBeGreaterThan(20);
    const prom = `http://127.0.0.1:${ports.prometheus}/api/v1/query`;
    const empty = async () => {
      const missing: string[] = [];
      for (const q of queries) {
        const body = await getJson<{ data: { result: unknown[] } }>(
          `${prom}?query=${encodeURIComponent(q.expr)}`,
        );
        if (body.data.result.length === 0)
          missing.push(`${q.dashboard} / ${q.panel} [${q.refId}]: ${q.expr}`);
      }
      return missing;
    };
    let last: string[] = [];
    try {
      await waitFor(
        'every panel query to return data',
        async () => {
          last = await empty();
          return last.length === 0 ? true : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 3_000 },
      );
    } catch {
      // Fall through to the assertion, which lists the panels that stayed empty.
    }
    expect(last, 'panels whose queries stayed empty').toEqual([]);

    // The dashboards' variables (label_values queries) offer the workload's service, models and regions.
    const offered = new Map<string, Set<string>>();
    for (const file of dashboards) {
      const dashboard = JSON.parse(readFileSync(join(ROOT, 'dashboards', file), 'utf8')) as {
        templating: { list: { name: string; type: string; definition?: string }[] };
      };
      for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
        const match = /^label_values\((.+),\s*(\w+)\)$/.exec(variable.definition ?? '');
        expect(match, `${file} ${variable.name}: ${variable.definition}`).not.toBeNull();
        const [, selector = '', label = ''] = match ?? [];
        const series = await getJson<{ data: Record<string, string>[] }>(
          `http://127.0.0.1:${ports.prometheus}/api/v1/series?match[]=${encodeURIComponent(selector.replaceAll('$service', SERVICE))}`,
        );
        offered.set(variable.name, new Set(series.data.map((s) => s[label] ?? '').filter(Boolean)));
      }
    }
    expect([...(offered.get('service') ?? [])]).toContain(SERVICE);
    expect([...(offered.get('model') ?? [])]).toEqual(
      expect.arrayContaining(['claude-sonnet-4-6', 'claude-haiku-4-5']),
    );
    expect([...(offered.get('region') ?? [])].sort()).toEqual(['ap-south', 'eu-west', 'us-east']);
  });

  it('the collector failed no export and received the library log events', async () => {
    const url = `http://127.0.0.1:${ports.collectorTelemetry}/metrics`;
    const text = await (await fetch(url)).text();
    const series = (prefix: string) =>
      text
        .split('\n')
        .filter((line) => line.startsWith(prefix))
        .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
    const sent = series('otelcol_exporter_sent_spans').reduce((a, b) => a + b, 0);
    expect(sent).toBeGreaterThan(0);
    const failures = text
      .split('\n')
      .filter((line) =>
        /^otelcol_(exporter_send_failed|exporter_enqueue_failed|receiver_refused)_/.test(line),
      )
      .filter((line) => Number(line.slice(line.lastIndexOf(' ') + 1)) !== 0);
    expect(failures).toEqual([]);

    // Logs pipeline → debug exporter (detailed): records with the library's events and trace context.
    const output = await waitFor(
      'log records in the collector output',
      async () => (collector.output().includes('LogRecord #') ? collector.output() : undefined),
      { timeoutMs: 30_000 },
    );
    expect(output).toMatch(/Trace ID: [0-9a-f]{32}/);
    expect(output).toContain('anthropic.');
    expect(output).not.toContain(API_KEY);
  });
});
