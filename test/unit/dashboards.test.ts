// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Grafana variables (`${var}`) are plain text here.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  dashboards,
  OVERVIEW_UID,
  RESILIENCE_UID,
  renderDashboard,
  TAGS,
  tracesUrl,
} from '../../scripts/dashboards/build.js';
import {
  checkDashboard,
  checkDatasources,
  checkMetrics,
  checkVariables,
  metricFamilies,
  selectors,
} from '../../scripts/dashboards/check.js';
import { promLabel, promName, promSeriesNames } from '../../scripts/dashboards/prom.js';
import { substitute, walkPanels } from '../../scripts/dashboards/queries.js';
import { METRICS, type MetricSpec } from '../../src/telemetry/names.js';

const DIR = new URL('../../dashboards/', import.meta.url);

interface Json {
  uid?: string;
  title?: string;
  tags?: string[];
  refresh?: string;
  time?: { from: string; to: string };
  links?: Array<{ title: string; type: string; url?: string; includeVars?: boolean; keepTime?: boolean }>;
  templating: {
    list: Array<{
      name: string;
      type: string;
      query?: unknown;
      multi?: boolean;
      includeAll?: boolean;
      allValue?: string;
      current?: { value?: unknown };
    }>;
  };
  panels: Array<Record<string, unknown>>;
}

const committed = dashboards().map(({ file }) => ({
  file,
  json: JSON.parse(readFileSync(new URL(file, DIR), 'utf8')) as Json,
}));
const byUid = (uid: string): Json => {
  const found = committed.find((d) => d.json.uid === uid);
  if (found === undefined) throw new Error(`no dashboard ${uid}`);
  return found.json;
};
const clone = (d: Json): Json => structuredClone(d);
/** The first Prometheus target of the panel titled `title`. */
function target(d: Json, title: string): { expr: string; legendFormat?: string } {
  const panel = walkPanels(d).find((p) => p.panel.title === title)?.panel as
    | { targets: Array<{ expr: string; legendFormat?: string }> }
    | undefined;
  const t = panel?.targets[0];
  if (t === undefined) throw new Error(`no panel ${title}`);
  return t;
}

describe('dashboards/', () => {
  it('holds exactly the generated dashboards, equal to the generator output (run `npm run dashboards`)', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
    expect(files.sort()).toEqual(
      dashboards()
        .map((d) => d.file)
        .sort(),
    );
    for (const { file, dashboard } of dashboards()) {
      const text = readFileSync(new URL(file, DIR), 'utf8');
      expect(text, file).toBe(renderDashboard(dashboard));
      expect(text.endsWith('}\n')).toBe(true);
    }
  });

  it('query only metrics of METRICS under their Prometheus names, with labels they carry, filtered by service/model/region', () => {
    for (const { file, json } of committed) {
      expect(checkDashboard(json), file).toEqual([]);
    }
    const used = committed.flatMap((d) => metricFamilies(d.json));
    const declared = new Set((Object.values(METRICS) as MetricSpec[]).map(promName));
    for (const name of used) expect(declared, name).toContain(name);
    // The brief's panels: operations, attempts, latency, TTFC, tokens, cache tokens, headroom; retries,
    // delay, budget, breaker state, transitions and waits, fallbacks, cache lookups, timeouts, regions, resumptions;
    // the proactive throttle and the fleet store.
    expect(new Set(used)).toEqual(
      new Set(
        [
          METRICS.OPERATION_DURATION,
          METRICS.ATTEMPTS,
          METRICS.ATTEMPT_DURATION,
          METRICS.TIME_TO_FIRST_CHUNK,
          METRICS.TOKEN_USAGE,
          METRICS.CACHE_TOKENS,
          METRICS.RATELIMIT_REMAINING,
          METRICS.RETRIES,
          METRICS.RETRY_DELAY,
          METRICS.RETRY_BUDGET_EXHAUSTED,
          METRICS.BREAKER_STATE,
          METRICS.BREAKER_TRANSITIONS,
          METRICS.BREAKER_REJECTIONS,
          METRICS.BREAKER_WAIT_DURATION,
          METRICS.FALLBACKS,
          METRICS.CACHE_LOOKUPS,
          METRICS.TIMEOUTS,
          METRICS.REGION_HEALTH,
          METRICS.RESUMPTIONS,
          METRICS.THROTTLE_WAITS,
          METRICS.THROTTLE_DELAY,
          METRICS.STORE_STATE,
        ].map((m) => promName(m)),
      ),
    );
  });

  it('the metric check reports unknown metrics, wrong suffixes, foreign labels, missing filters and lost legend labels', () => {
    const d = byUid(OVERVIEW_UID);
    const attempts = target(d, 'Failed attempts/s by error.type');
    const replace = (from: string, to: string) => (t: { expr: string }) => {
      t.expr = t.expr.replace(from, to);
    };
    const cases: Array<[(t: { expr: string; legendFormat?: string }) => void, RegExp]> = [
      [
        replace('anthropic_client_attempts_total', 'anthropic_client_bogus_total'),
        /anthropic_client_bogus_total is not the Prometheus name/,
      ],
      [
        replace('anthropic_client_attempts_total', 'anthropic_client_attempts'),
        /anthropic_client_attempts is not/,
      ],
      [replace('error_type!=""', 'anthropic_fallback_kind!=""'), /has no label anthropic_fallback_kind/],
      [replace(', gen_ai_request_model=~"$model"', ''), /not filtered by \$model/],
      [replace('service_name="$service", ', ''), /not filtered by \$service/],
      [replace('sum by (error_type)', 'sum by (anthropic_timeout_kind)'), /groups by anthropic_timeout_kind/],
      [
        (t) => {
          t.legendFormat = '{{gen_ai_request_model}}';
        },
        /legend uses gen_ai_request_model/,
      ],
    ];
    expect(attempts.expr).toContain('anthropic_client_attempts_total');
    for (const [mutate, problem] of cases) {
      const copy = clone(d);
      mutate(target(copy, 'Failed attempts/s by error.type'));
      expect(checkMetrics(copy).join('\n')).toMatch(problem);
    }
    // A metric without a model label must not be filtered on one.
    const res = clone(byUid(RESILIENCE_UID));
    const fallbacks = target(res, 'Fallbacks/s by kind');
    fallbacks.expr = fallbacks.expr.replace(
      'service_name="$service"',
      'service_name="$service", gen_ai_request_model=~"$model"',
    );
    expect(checkMetrics(res).join('\n')).toMatch(/filtered on gen_ai_request_model, which it does not carry/);
    // histogram_quantile must keep le.
    const latency = clone(d);
    const q = target(latency, 'Operation latency p95');
    q.expr = q.expr.replace('sum by (le)', 'sum');
    expect(checkMetrics(latency).join('\n')).toMatch(/histogram_quantile without grouping by le/);
  });

  it('read every panel and query variable from the datasource variable (no hardcoded uid), and the check notices one that does not', () => {
    for (const { json } of committed) {
      for (const { path, panel } of walkPanels(json)) {
        expect(panel.datasource, path).toEqual({ type: 'prometheus', uid: '${datasource}' });
      }
      expect(JSON.stringify(json)).not.toMatch(/"uid":\s*"prometheus"/);
    }
    const copy = clone(byUid(OVERVIEW_UID));
    const panel = walkPanels(copy).find((p) => p.panel.type !== 'row')?.panel;
    if (panel === undefined) throw new Error('no panel');
    panel.datasource = { type: 'prometheus', uid: 'prometheus' };
    expect(checkDatasources(copy)).toHaveLength(1);
    const variable = copy.templating.list.find((v) => v.name === 'model') as { datasource?: unknown };
    variable.datasource = { type: 'prometheus', uid: 'abc' };
    expect(checkDatasources(copy).join('\n')).toMatch(/variable model/);
  });

  it('offer the datasource, service, model and region variables, and the check notices a missing one', () => {
    for (const { json } of committed) {
      const vars = new Map(json.templating.list.map((v) => [v.name, v]));
      expect(vars.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
      expect(vars.get('datasource')?.current?.value).toBe('prometheus');
      expect(vars.get('jaeger')).toMatchObject({ type: 'datasource', query: 'jaeger' });
      expect(vars.get('jaeger')?.current?.value).toBe('jaeger');
      expect(vars.get('service')).toMatchObject({ type: 'query', multi: false, includeAll: false });
      for (const name of ['model', 'region']) {
        expect(vars.get(name), name).toMatchObject({
          type: 'query',
          multi: true,
          includeAll: true,
          allValue: '.*',
        });
      }
      expect(String(vars.get('model')?.query)).toContain(promLabel('gen_ai.request.model'));
      expect(String(vars.get('region')?.query)).toContain(promLabel('anthropic.region'));
      expect(checkVariables(json)).toEqual([]);
    }
    const copy = clone(byUid(RESILIENCE_UID));
    copy.templating.list = copy.templating.list.filter((v) => v.name !== 'region');
    expect(checkVariables(copy)).toEqual(['no query variable "region"']);
    copy.templating.list = copy.templating.list.filter((v) => v.name !== 'datasource');
    expect(checkVariables(copy)[0]).toMatch(/datasource/);
  });

  it('have fixed uids, tags, 10 s refresh, the last 15 minutes, unique panel ids and links to each other', () => {
    const pairs = [
      [OVERVIEW_UID, RESILIENCE_UID],
      [RESILIENCE_UID, OVERVIEW_UID],
    ] as const;
    for (const [uid, other] of pairs) {
      const d = byUid(uid);
      expect(d.tags).toEqual(TAGS);
      expect(d.refresh).toBe('10s');
      expect(d.time).toEqual({ from: 'now-15m', to: 'now' });
      expect(d.links?.find((l) => l.url === `/d/${other}`)).toMatchObject({
        includeVars: true,
        keepTime: true,
      });
      const ids = (d.panels as Array<{ id?: number; panels?: Array<{ id?: number }> }>).flatMap((p) => [
        p.id,
        ...(p.panels ?? []).map((x) => x.id),
      ]);
      expect(ids.every((id) => typeof id === 'number')).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
      for (const p of d.panels as Array<{ gridPos: { x: number; w: number } }>) {
        expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      }
    }
  });

  it('link to the matching traces: Explore on the Jaeger datasource, by service and the series labels', () => {
    const vars = {
      jaeger: 'jaeger',
      'service:percentencode': 'my%20app',
      __from: '1000',
      __to: '2000',
      service: 'my app',
    };
    const openExplore = (url: string, extra: Record<string, string> = {}) => {
      // Grafana substitutes the expressions; `${x:percentencode}` is looked up here under its own name.
      const filled = url.replace(/\$\{([\w.]+):percentencode\}/g, (_, name: string) =>
        encodeURIComponent(extra[name] ?? vars[name as keyof typeof vars] ?? `<${name}>`),
      );
      const done = substitute(filled, { ...vars, ...extra });
      const parsed = new URL(done, 'http://grafana.local');
      expect(parsed.pathname).toBe('/explore');
      const panes = JSON.parse(parsed.searchParams.get('panes') ?? '{}') as Record<
        string,
        { datasource: string; queries: Array<Record<string, unknown>>; range: unknown }
      >;
      const pane = Object.values(panes)[0];
      expect(pane?.datasource).toBe('jaeger');
      expect(pane?.range).toEqual({ from: '1000', to: '2000' });
      return pane?.queries[0] ?? {};
    };
    expect(openExplore(tracesUrl())).toMatchObject({
      queryType: 'search',
      service: 'my app',
      datasource: { type: 'jaeger', uid: 'jaeger' },
    });
    const d = byUid(OVERVIEW_UID);
    const dashboardLink = d.links?.find((l) => l.url?.startsWith('/explore'));
    expect(openExplore(dashboardLink?.url ?? '')).toMatchObject({ service: 'my app' });
    const panel = walkPanels(d).find((p) => p.panel.title === 'Failed attempts/s by error.type')?.panel as {
      fieldConfig: { defaults: { links: Array<{ url: string; title: string }> } };
    };
    const link = panel.fieldConfig.defaults.links[0];
    expect(openExplore(link?.url ?? '', { '__field.labels.error_type': 'overloaded_error' })).toMatchObject({
      service: 'my app',
      tags: 'error.type=overloaded_error',
    });
    // Every data link of every panel goes to Explore on the Jaeger variable.
    for (const { json } of committed) {
      for (const { panel: p } of walkPanels(json)) {
        const links = (p as { fieldConfig?: { defaults?: { links?: Array<{ url: string }> } } }).fieldConfig
          ?.defaults?.links;
        for (const l of links ?? [])
          expect(l.url).toMatch(/^\/explore\?schemaVersion=1&panes=.*\$\{jaeger\}/);
      }
    }
  });
});

describe('promName', () => {
  const spec = (name: string, instrument: MetricSpec['instrument'], unit: string): MetricSpec => ({
    name,
    instrument,
    unit,
    origin: 'library',
    brief: '',
    attributes: [],
  });

  it('follows the collector exporter: underscores, unit suffixes, _total on counters, no suffix for {annotations}', () => {
    expect(promName(METRICS.OPERATION_DURATION)).toBe('gen_ai_client_operation_duration_seconds');
    expect(promSeriesNames(METRICS.OPERATION_DURATION)).toEqual([
      'gen_ai_client_operation_duration_seconds_bucket',
      'gen_ai_client_operation_duration_seconds_sum',
      'gen_ai_client_operation_duration_seconds_count',
    ]);
    expect(promName(METRICS.TOKEN_USAGE)).toBe('gen_ai_client_token_usage');
    expect(promName(METRICS.ATTEMPTS)).toBe('anthropic_client_attempts_total');
    expect(promName(METRICS.RETRY_BUDGET_EXHAUSTED)).toBe('anthropic_client_retry_budget_exhausted_total');
    expect(promName(METRICS.BREAKER_STATE)).toBe('anthropic_client_circuit_breaker_state');
    expect(promName(METRICS.RATELIMIT_REMAINING)).toBe('anthropic_client_ratelimit_remaining');
    expect(promName(spec('a.size', 'histogram', 'By'))).toBe('a_size_bytes');
    expect(promName(spec('a.latency', 'gauge', 'ms'))).toBe('a_latency_milliseconds');
    expect(promName(spec('a.usage', 'gauge', '1'))).toBe('a_usage_ratio');
    expect(promName(spec('a.hits', 'counter', '1'))).toBe('a_hits_total');
    expect(promName(spec('a.wait_seconds', 'histogram', 's'))).toBe('a_wait_seconds');
    expect(promName(spec('a.total', 'counter', '{x}'))).toBe('a_total');
    expect(promLabel('gen_ai.request.model')).toBe('gen_ai_request_model');
    expect(promLabel('error.type')).toBe('error_type');
  });
});

describe('selectors', () => {
  it('finds the series of an expression, not functions, keywords, label lists or strings', () => {
    const found = selectors(
      'histogram_quantile(0.9, sum by (le, x) (rate(a_bucket{x="y", z=~"$v"}[5m]))) / on (x) b or c == bool 2 and label_replace(d, "l", "none", "l", "")',
    );
    expect(found.map((s) => s.metric)).toEqual(['a_bucket', 'b', 'c', 'd']);
    expect(found[0]?.matchers).toEqual([
      { label: 'x', op: '=', value: 'y' },
      { label: 'z', op: '=~', value: '$v' },
    ]);
  });
});

describe('Grafana provisioning', () => {
  const read = (path: string) =>
    parse(readFileSync(new URL(`../../grafana/provisioning/${path}`, import.meta.url), 'utf8'));

  it('provides the datasources with the uids the dashboards default to', () => {
    const { apiVersion, datasources } = read('datasources/datasources.yaml') as {
      apiVersion: number;
      datasources: Array<{ uid: string; type: string; url: string; isDefault?: boolean }>;
    };
    expect(apiVersion).toBe(1);
    expect(datasources.map(({ uid, type, url, isDefault }) => ({ uid, type, url, isDefault }))).toEqual([
      { uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090', isDefault: true },
      { uid: 'jaeger', type: 'jaeger', url: 'http://jaeger:16686', isDefault: undefined },
    ]);
    for (const { json } of committed) {
      const vars = new Map(json.templating.list.map((v) => [v.name, v]));
      for (const { uid, type } of datasources) {
        const variable = [...vars.values()].find((v) => v.type === 'datasource' && v.query === type);
        expect(variable?.current?.value, `${json.uid}: ${type}`).toBe(uid);
      }
    }
  });

  it('loads the mounted dashboards folder into the folder Claude', () => {
    const { apiVersion, providers } = read('dashboards/dashboards.yaml') as {
      apiVersion: number;
      providers: Array<{ type: string; folder: string; options: { path: string } }>;
    };
    expect(apiVersion).toBe(1);
    expect(providers).toHaveLength(1);
    expect(providers[0]).toMatchObject({
      type: 'file',
      folder: 'Claude',
      options: { path: '/var/lib/grafana/dashboards' },
    });
  });
});
