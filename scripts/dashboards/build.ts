/**
 * The Grafana dashboards of `dashboards/`, built with the typed builders of
 * `@grafana/grafana-foundation-sdk`. `npm run dashboards` writes them; a unit test keeps the committed
 * JSON equal to this code's output.
 *
 * Every query goes through {@link Metric}, which knows the Prometheus name of a metric of
 * `src/telemetry/names.ts` (see `prom.ts`) and refuses a label the metric does not carry, and
 * applies the service, model and region filters wherever the metric has that label.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import {
  BigValueColorMode,
  BigValueGraphMode,
  GraphDrawStyle,
  LegendDisplayMode,
  LegendPlacement,
  ReduceDataOptionsBuilder,
  SortOrder,
  StackingConfigBuilder,
  StackingMode,
  TooltipDisplayMode,
  VisibilityMode,
  VizLegendOptionsBuilder,
  VizTooltipOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';
import {
  type Dashboard,
  DashboardBuilder,
  DashboardCursorSync,
  type DashboardLink,
  DashboardLinkBuilder,
  DashboardLinkType,
  DatasourceVariableBuilder,
  MappingType,
  QueryVariableBuilder,
  RowBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  type ValueMapping,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatPanelBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as StateTimelinePanelBuilder } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as TablePanelBuilder } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeseriesPanelBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { ATTRIBUTES, METRICS, type MetricSpec } from '../../src/telemetry/names.js';
import { FILTERS } from './check.js';
import { promLabel, promName, SERVICE_LABEL } from './prom.js';

/** Fixed uids: links between the dashboards and provisioning rely on them. */
export const OVERVIEW_UID = 'claude-overview';
export const RESILIENCE_UID = 'claude-resilience';
/** Tags of both dashboards. */
export const TAGS = ['claude-otel-middleware', 'anthropic', 'claude', 'opentelemetry'];

/** The template variables the queries use. */
export const VARIABLES = {
  datasource: 'datasource',
  jaeger: 'jaeger',
  service: 'service',
  model: 'model',
  region: 'region',
} as const;

/** Every panel and query reads from the Prometheus datasource chosen in the `datasource` variable. */
export const PROMETHEUS = { type: 'prometheus', uid: `\${${VARIABLES.datasource}}` } as const;

const A = ATTRIBUTES;
const INTERVAL = '$__rate_interval';

type Op = '=' | '!=' | '=~' | '!~';
/** A label matcher on an attribute of the metric (checked against its declaration). */
type Matcher = readonly [attribute: string, op: Op, value: string];
type Series = '' | '_bucket' | '_sum' | '_count';

/** A metric of `src/telemetry/names.ts` as the dashboards query it. */
class Metric {
  constructor(readonly spec: MetricSpec) {}

  /** The Prometheus label of one of the metric's attributes; throws if the metric lacks it. */
  label(attribute: string): string {
    if (!this.spec.attributes.includes(attribute)) {
      throw new Error(`${this.spec.name} has no attribute ${attribute}`);
    }
    return promLabel(attribute);
  }

  /** A series selector with the dashboard filters that apply to this metric, plus `matchers`. */
  select(matchers: readonly Matcher[] = [], series: Series = ''): string {
    if (series !== '' && this.spec.instrument !== 'histogram') {
      throw new Error(`${this.spec.name} is not a histogram`);
    }
    const parts = FILTERS.filter(
      (f) => f.attribute === undefined || this.spec.attributes.includes(f.attribute),
    )
      .map((f): string => f.matcher)
      .concat(matchers.map(([attribute, op, value]) => `${this.label(attribute)}${op}"${value}"`));
    return `${promName(this.spec)}${series}{${parts.join(', ')}}`;
  }

  /** `rate(selector[$__rate_interval])`. */
  rate(matchers: readonly Matcher[] = [], series: Series = ''): string {
    return `rate(${this.select(matchers, series)}[${INTERVAL}])`;
  }

  /** `sum by (attributes…) (rate(…))`. */
  sumRate(by: readonly string[], matchers: readonly Matcher[] = [], series: Series = ''): string {
    return sumBy(
      by.map((a) => this.label(a)),
      this.rate(matchers, series),
    );
  }

  /** `histogram_quantile(q, sum by (le, attributes…) (rate(…_bucket)))`. */
  quantile(q: number, by: readonly string[], matchers: readonly Matcher[] = []): string {
    return `histogram_quantile(${q}, ${sumBy(['le', ...by.map((a) => this.label(a))], this.rate(matchers, '_bucket'))})`;
  }

  /** One target per quantile, split by `attribute`, with legends such as `p95 {{label}}`. */
  percentiles(qs: readonly number[], attribute: string): Array<{ expr: string; legend: string }> {
    return qs.map((q) => ({
      expr: this.quantile(q, [attribute]),
      legend: `p${q * 100} ${legendLabel(attribute)}`,
    }));
  }
}

function sumBy(labels: readonly string[], expr: string): string {
  return labels.length === 0 ? `sum(${expr})` : `sum by (${labels.join(', ')}) (${expr})`;
}

const M = {
  operations: new Metric(METRICS.OPERATION_DURATION),
  tokens: new Metric(METRICS.TOKEN_USAGE),
  firstChunk: new Metric(METRICS.TIME_TO_FIRST_CHUNK),
  cacheTokens: new Metric(METRICS.CACHE_TOKENS),
  attempts: new Metric(METRICS.ATTEMPTS),
  attemptDuration: new Metric(METRICS.ATTEMPT_DURATION),
  headroom: new Metric(METRICS.RATELIMIT_REMAINING),
  retries: new Metric(METRICS.RETRIES),
  retryDelay: new Metric(METRICS.RETRY_DELAY),
  budget: new Metric(METRICS.RETRY_BUDGET_EXHAUSTED),
  transitions: new Metric(METRICS.BREAKER_TRANSITIONS),
  breakerState: new Metric(METRICS.BREAKER_STATE),
  rejections: new Metric(METRICS.BREAKER_REJECTIONS),
  breakerWait: new Metric(METRICS.BREAKER_WAIT_DURATION),
  fallbacks: new Metric(METRICS.FALLBACKS),
  regionHealth: new Metric(METRICS.REGION_HEALTH),
  resumptions: new Metric(METRICS.RESUMPTIONS),
  cacheLookups: new Metric(METRICS.CACHE_LOOKUPS),
  timeouts: new Metric(METRICS.TIMEOUTS),
  throttleWaits: new Metric(METRICS.THROTTLE_WAITS),
  throttleDelay: new Metric(METRICS.THROTTLE_DELAY),
  storeState: new Metric(METRICS.STORE_STATE),
};

const MODEL = A.GEN_AI_REQUEST_MODEL.name;
const REGION = A.ANTHROPIC_REGION.name;
const ERROR_TYPE = A.ERROR_TYPE.name;
const legendLabel = (attribute: string): string => `{{${promLabel(attribute)}}}`;

// ---------------------------------------------------------------------------------------------
// Links to traces in Jaeger, through Grafana Explore.

/** A Grafana expression: `${name}`. */
const grafana = (name: string): string => `\${${name}}`;

/** The Grafana expression of the clicked series' value of an attribute (in link titles). */
const seriesValue = (attribute: string): string => grafana(`__field.labels.${promLabel(attribute)}`);

/** A Grafana data link: `{ title, url, targetBlank }` (the SDK types data links as dashboard links). */
function dataLink(title: string, url: string): cog.Builder<DashboardLink> {
  return { build: () => ({ title, url, targetBlank: true }) as unknown as DashboardLink };
}

/** A dashboard link shown in the dashboard's link bar (not folded into the controls menu). */
function dashboardLink(builder: DashboardLinkBuilder): cog.Builder<DashboardLink> {
  return {
    build: () => {
      const link = builder.build();
      delete link.placement;
      return link;
    },
  };
}

/**
 * A Grafana Explore URL searching the Jaeger datasource (the `jaeger` variable, `jaeger` in the
 * bundled stack) for traces of the selected service in the dashboard's time range, with span tags
 * `tags` (attribute → Grafana expression, e.g. a series label `${__field.labels.error_type}`).
 * The Explore state is percent-encoded JSON; the Grafana expressions are left outside the encoding
 * (Grafana substitutes them, `:percentencode` encodes their values).
 */
export function tracesUrl(tags: Readonly<Record<string, string>> = {}): string {
  const holes: string[] = [];
  const hole = (expr: string): string => `__HOLE${holes.push(expr) - 1}__`;
  const jaeger = hole(grafana(VARIABLES.jaeger));
  const tagText = Object.entries(tags)
    .map(([key, value]) => `${key}=${hole(value)}`)
    .join(' ');
  const panes = {
    traces: {
      datasource: jaeger,
      queries: [
        {
          refId: 'A',
          datasource: { type: 'jaeger', uid: jaeger },
          queryType: 'search',
          service: hole(grafana(`${VARIABLES.service}:percentencode`)),
          ...(tagText === '' ? {} : { tags: tagText }),
          limit: 20,
        },
      ],
      range: { from: hole(grafana('__from')), to: hole(grafana('__to')) },
    },
  };
  const encoded = encodeURIComponent(JSON.stringify(panes)).replace(
    /__HOLE(\d+)__/g,
    (_, i: string) => holes[Number(i)] ?? '',
  );
  return `/explore?schemaVersion=1&panes=${encoded}`;
}

/** The Grafana expression of a series label in a data link, percent-encoded. */
const seriesLabel = (attribute: string): string =>
  grafana(`__field.labels.${promLabel(attribute)}:percentencode`);

/** A data link to the traces whose spans carry the clicked series' values of `attributes`. */
function tracesLink(title: string, attributes: readonly string[], extra: Record<string, string> = {}) {
  return dataLink(
    title,
    tracesUrl({ ...Object.fromEntries(attributes.map((a) => [a, seriesLabel(a)])), ...extra }),
  );
}

// ---------------------------------------------------------------------------------------------
// Panels.

interface Target {
  readonly expr: string;
  readonly legend?: string;
  /** An instant query shown as a table. */
  readonly table?: boolean;
}

function query(target: Target, index: number): DataqueryBuilder {
  const q = new DataqueryBuilder()
    .datasource(PROMETHEUS)
    .refId(String.fromCharCode(65 + index))
    .expr(target.expr);
  if (target.table === true) return q.instant().format(PromQueryFormat.Table);
  return q.range().legendFormat(target.legend ?? '__auto');
}

interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly targets: readonly Target[];
  readonly unit?: string;
  readonly w: number;
  readonly h?: number;
  readonly links?: ReadonlyArray<cog.Builder<DashboardLink>>;
}

type AnyPanelBuilder =
  | TimeseriesPanelBuilder
  | StatPanelBuilder
  | StateTimelinePanelBuilder
  | TablePanelBuilder;

function common<T extends AnyPanelBuilder>(builder: T, spec: PanelSpec, defaultHeight: number): T {
  builder
    .title(spec.title)
    .description(spec.description)
    .datasource(PROMETHEUS)
    .span(spec.w)
    .height(spec.h ?? defaultHeight)
    .targets(spec.targets.map(query));
  if (spec.unit !== undefined) builder.unit(spec.unit);
  if (spec.links !== undefined && spec.links.length > 0) builder.dataLinks([...spec.links]);
  return builder;
}

const legend = () =>
  new VizLegendOptionsBuilder()
    .showLegend(true)
    .displayMode(LegendDisplayMode.List)
    .placement(LegendPlacement.Bottom)
    .calcs([]);
const tooltip = () =>
  new VizTooltipOptionsBuilder().mode(TooltipDisplayMode.Multi).sort(SortOrder.Descending);

function timeseries(spec: PanelSpec & { stacked?: boolean; bars?: boolean; min?: number; max?: number }) {
  const panel = common(new TimeseriesPanelBuilder(), spec, 8)
    .legend(legend())
    .tooltip(tooltip())
    .fillOpacity(spec.stacked === true ? 30 : 10)
    .showPoints(VisibilityMode.Never)
    .spanNulls(false);
  if (spec.stacked === true) panel.stacking(new StackingConfigBuilder().mode(StackingMode.Normal));
  if (spec.bars === true) panel.drawStyle(GraphDrawStyle.Bars);
  if (spec.min !== undefined) panel.min(spec.min);
  if (spec.max !== undefined) panel.max(spec.max);
  return panel;
}

function stat(spec: PanelSpec & { thresholds?: Array<{ value: number | null; color: string }> }) {
  const panel = common(new StatPanelBuilder(), spec, 4)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .graphMode(BigValueGraphMode.Area)
    .colorMode(BigValueColorMode.Value)
    .decimals(2);
  panel.thresholds(
    new ThresholdsConfigBuilder()
      .mode(ThresholdsMode.Absolute)
      .steps(spec.thresholds ?? [{ value: null, color: 'blue' }]),
  );
  return panel;
}

function states(spec: PanelSpec & { mappings: ValueMapping[] }) {
  return common(new StateTimelinePanelBuilder(), spec, 8)
    .mappings(spec.mappings)
    .legend(legend())
    .tooltip(tooltip())
    .showValue(VisibilityMode.Never)
    .mergeValues(true)
    .fillOpacity(80)
    .thresholds(
      new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps([{ value: null, color: 'text' }]),
    );
}

function table(spec: PanelSpec & { rename: Record<string, string> }) {
  return common(new TablePanelBuilder(), spec, 8).withTransformation({
    id: 'organize',
    options: { excludeByName: { Time: true }, renameByName: spec.rename, indexByName: {} },
  });
}

function valueMap(entries: Record<string, { text: string; color: string }>): ValueMapping {
  const options: Record<string, { text: string; color: string; index: number }> = {};
  Object.entries(entries).forEach(([value, result], index) => {
    options[value] = { ...result, index };
  });
  return { type: MappingType.ValueToText, options };
}

// ---------------------------------------------------------------------------------------------
// Dashboards.

/** Assigns panel ids in order and lays panels out left to right, rows across the full width. */
class Board {
  private nextId = 1;
  constructor(readonly builder: DashboardBuilder) {}

  row(title: string): this {
    this.builder.withRow(new RowBuilder(title).id(this.nextId++));
    return this;
  }

  panel(panel: AnyPanelBuilder): this {
    this.builder.withPanel(panel.id(this.nextId++));
    return this;
  }
}

function variables(builder: DashboardBuilder): void {
  const attempts = promName(M.attempts.spec);
  const service = `${SERVICE_LABEL}="$${VARIABLES.service}"`;
  const labelValues = (selector: string, label: string) => `label_values(${selector}, ${label})`;
  const serviceQuery = labelValues(attempts, SERVICE_LABEL);
  const modelQuery = labelValues(`${attempts}{${service}}`, M.attempts.label(MODEL));
  const regionQuery = labelValues(`${attempts}{${service}}`, M.attempts.label(REGION));
  builder
    .withVariable(
      new DatasourceVariableBuilder(VARIABLES.datasource)
        .label('Data source')
        .type('prometheus')
        .current({ selected: true, text: 'prometheus', value: 'prometheus' })
        .description('The Prometheus datasource scraping the OpenTelemetry Collector.'),
    )
    .withVariable(
      new DatasourceVariableBuilder(VARIABLES.jaeger)
        .label('Jaeger')
        .type('jaeger')
        .current({ selected: true, text: 'jaeger', value: 'jaeger' })
        .description('The Jaeger datasource the trace links open in Explore.'),
    )
    .withVariable(
      new QueryVariableBuilder(VARIABLES.service)
        .label('Service')
        .description('service.name of the instrumented application (Jaeger searches one service).')
        .datasource(PROMETHEUS)
        .query(serviceQuery)
        .definition(serviceQuery)
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc),
    );
  for (const [name, label, queryText, description] of [
    [VARIABLES.model, 'Model', modelQuery, 'gen_ai.request.model: the model sent in the request.'],
    [VARIABLES.region, 'Region', regionQuery, 'anthropic.region: the region (route) of the attempt.'],
  ] as const) {
    builder.withVariable(
      new QueryVariableBuilder(name)
        .label(label)
        .description(description)
        .datasource(PROMETHEUS)
        .query(queryText)
        .definition(queryText)
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc)
        .multi(true)
        .includeAll(true)
        .allValue('.*')
        .current({ selected: true, text: 'All', value: '$__all' }),
    );
  }
}

function dashboard(uid: string, title: string, description: string, other: { uid: string; title: string }) {
  const builder = new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(TAGS)
    .time({ from: 'now-15m', to: 'now' })
    .refresh('10s')
    .timezone('browser')
    .tooltip(DashboardCursorSync.Crosshair)
    .link(
      dashboardLink(
        new DashboardLinkBuilder(other.title)
          .type(DashboardLinkType.Link)
          .url(`/d/${other.uid}`)
          .icon('dashboard')
          .tooltip(`Open the ${other.title} dashboard`)
          .includeVars(true)
          .keepTime(true),
      ),
    )
    .link(
      dashboardLink(
        new DashboardLinkBuilder('Traces in Jaeger')
          .type(DashboardLinkType.Link)
          .url(tracesUrl())
          .icon('external link')
          .tooltip('Search the traces of the selected service in Explore (Jaeger)')
          .targetBlank(true),
      ),
    );
  variables(builder);
  return new Board(builder);
}

const OVERVIEW_TITLE = 'Claude API — overview';
const RESILIENCE_TITLE = 'Claude API — resilience';

/** Requests, errors, latency, tokens and rate-limit headroom. */
export function overviewDashboard(): Dashboard {
  const ops = M.operations;
  const att = M.attempts;
  const modelLinks = [tracesLink(`Traces of ${seriesValue(MODEL)}`, [MODEL])];
  const board = dashboard(
    OVERVIEW_UID,
    OVERVIEW_TITLE,
    'Claude API calls made through claude-otel-middleware: operations (one call of the fetch, all its attempts) and HTTP attempts, errors, latency, tokens and rate-limit headroom.',
    { uid: RESILIENCE_UID, title: RESILIENCE_TITLE },
  );
  const successRatio = (metric: Metric, by: readonly string[]) =>
    `${metric.sumRate(by, [[ERROR_TYPE, '=', '']], '')} / ${metric.sumRate(by)}`;
  const opSuccessRatio = (by: readonly string[]) =>
    `${ops.sumRate(by, [[ERROR_TYPE, '=', '']], '_count')} / ${ops.sumRate(by, [], '_count')}`;

  board
    .row('Traffic')
    .panel(
      stat({
        title: 'Operations/s',
        description: 'Calls of the fetch per second (one operation = all attempts of one SDK request).',
        targets: [{ expr: ops.sumRate([], [], '_count') }],
        unit: 'reqps',
        w: 6,
      }),
    )
    .panel(
      stat({
        title: 'Attempts/s',
        description: 'HTTP attempts per second (first tries and retries).',
        targets: [{ expr: att.sumRate([]) }],
        unit: 'reqps',
        w: 6,
      }),
    )
    .panel(
      stat({
        title: 'Operation success rate',
        description: 'Share of operations that ended without `error.type`.',
        targets: [
          {
            expr: `(${ops.sumRate([], [[ERROR_TYPE, '=', '']], '_count')} or vector(0)) / ${ops.sumRate([], [], '_count')}`,
          },
        ],
        unit: 'percentunit',
        w: 6,
        thresholds: [
          { value: null, color: 'red' },
          { value: 0.95, color: 'orange' },
          { value: 0.99, color: 'green' },
        ],
      }),
    )
    .panel(
      stat({
        title: 'Operation latency p95',
        description: '95th percentile of `gen_ai.client.operation.duration`.',
        targets: [{ expr: ops.quantile(0.95, []) }],
        unit: 's',
        w: 6,
      }),
    )
    .row('Requests and errors')
    .panel(
      timeseries({
        title: 'Operations and attempts/s by model',
        description:
          'Operations (calls of the fetch) and HTTP attempts per second; the gap between them is retries and failovers.',
        targets: [
          { expr: ops.sumRate([MODEL], [], '_count'), legend: `operations ${legendLabel(MODEL)}` },
          { expr: att.sumRate([MODEL]), legend: `attempts ${legendLabel(MODEL)}` },
        ],
        unit: 'reqps',
        w: 12,
        links: modelLinks,
      }),
    )
    .panel(
      timeseries({
        title: 'Success rate by model',
        description:
          'Share of operations, and of attempts, without `error.type`; retries and failovers lift the operation rate above the attempt rate.',
        targets: [
          { expr: opSuccessRatio([MODEL]), legend: `operations ${legendLabel(MODEL)}` },
          { expr: successRatio(att, [MODEL]), legend: `attempts ${legendLabel(MODEL)}` },
        ],
        unit: 'percentunit',
        min: 0,
        max: 1,
        w: 12,
        links: modelLinks,
      }),
    )
    .panel(
      timeseries({
        title: 'Failed attempts/s by error.type',
        description:
          "Attempts that failed, by `error.type`: the API's error type (e.g. `overloaded_error`), `connection_error`, `timeout`, `aborted`, `invalid_response`, `stream_truncated`, or the status code.",
        targets: [
          { expr: att.sumRate([ERROR_TYPE], [[ERROR_TYPE, '!=', '']]), legend: legendLabel(ERROR_TYPE) },
        ],
        unit: 'reqps',
        stacked: true,
        w: 12,
        links: [tracesLink(`Traces with error.type=${seriesValue(ERROR_TYPE)}`, [ERROR_TYPE])],
      }),
    )
    .panel(
      timeseries({
        title: 'Failed attempts/s by HTTP status',
        description: 'Attempts that failed, by `http.response.status_code` (`none`: no response arrived).',
        targets: [
          {
            expr: `label_replace(${att.sumRate([A.HTTP_RESPONSE_STATUS_CODE.name], [[ERROR_TYPE, '!=', '']])}, "${att.label(A.HTTP_RESPONSE_STATUS_CODE.name)}", "none", "${att.label(A.HTTP_RESPONSE_STATUS_CODE.name)}", "")`,
            legend: legendLabel(A.HTTP_RESPONSE_STATUS_CODE.name),
          },
        ],
        unit: 'reqps',
        stacked: true,
        w: 12,
        links: [dataLink('Traces with errors', tracesUrl({ error: 'true' }))],
      }),
    )
    .row('Latency')
    .panel(
      timeseries({
        title: 'Operation latency p50 / p95 / p99 by model',
        description:
          '`gen_ai.client.operation.duration`: one call of the fetch, all attempts and waits, until the body was read.',
        targets: ops.percentiles([0.5, 0.95, 0.99], MODEL),
        unit: 's',
        w: 12,
        links: modelLinks,
      }),
    )
    .panel(
      timeseries({
        title: 'Attempt latency p50 / p95 / p99 by model',
        description:
          '`anthropic.client.attempt.duration`: one HTTP attempt, from sending to the end of its body.',
        targets: M.attemptDuration.percentiles([0.5, 0.95, 0.99], MODEL),
        unit: 's',
        w: 12,
        links: modelLinks,
      }),
    )
    .panel(
      timeseries({
        title: 'Time to first chunk p50 / p95 / p99 by model',
        description:
          'Streams: `gen_ai.client.operation.time_to_first_chunk`, from the start of the operation to the first `content_block_delta`.',
        targets: M.firstChunk.percentiles([0.5, 0.95, 0.99], MODEL),
        unit: 's',
        w: 24,
        links: modelLinks,
      }),
    )
    .row('Tokens')
    .panel(
      timeseries({
        title: 'Tokens/s by model: input and output',
        description:
          '`gen_ai.client.token.usage` of successful operations per second; input includes cache reads and writes.',
        targets: [
          {
            expr: M.tokens.sumRate([MODEL, A.GEN_AI_TOKEN_TYPE.name], [], '_sum'),
            legend: `${legendLabel(A.GEN_AI_TOKEN_TYPE.name)} ${legendLabel(MODEL)}`,
          },
        ],
        unit: 'short',
        w: 12,
        links: modelLinks,
      }),
    )
    .panel(
      timeseries({
        title: 'Prompt-cache tokens/s by model: read and write',
        description:
          '`anthropic.client.cache.tokens`: input tokens read from and written to the prompt cache.',
        targets: [
          {
            expr: M.cacheTokens.sumRate([MODEL, A.GEN_AI_TOKEN_TYPE.name]),
            legend: `${legendLabel(A.GEN_AI_TOKEN_TYPE.name)} ${legendLabel(MODEL)}`,
          },
        ],
        unit: 'short',
        w: 12,
        links: modelLinks,
      }),
    )
    .row('Rate limits')
    .panel(
      timeseries({
        title: 'Rate-limit headroom: requests remaining',
        description:
          'Last `anthropic-ratelimit-requests-remaining` value seen per region (lowest across instances of the service).',
        targets: [
          {
            expr: `min by (${M.headroom.label(REGION)}) (${M.headroom.select([[A.ANTHROPIC_RATELIMIT_RESOURCE.name, '=', 'requests']])})`,
            legend: legendLabel(REGION),
          },
        ],
        unit: 'short',
        w: 12,
        links: [tracesLink(`Traces in region ${seriesValue(REGION)}`, [REGION])],
      }),
    )
    .panel(
      timeseries({
        title: 'Rate-limit headroom: tokens remaining',
        description:
          'Last `anthropic-ratelimit-{tokens,input-tokens,output-tokens}-remaining` value seen per region.',
        targets: [
          {
            expr: `min by (${M.headroom.label(A.ANTHROPIC_RATELIMIT_RESOURCE.name)}, ${M.headroom.label(REGION)}) (${M.headroom.select([[A.ANTHROPIC_RATELIMIT_RESOURCE.name, '!=', 'requests']])})`,
            legend: `${legendLabel(A.ANTHROPIC_RATELIMIT_RESOURCE.name)} ${legendLabel(REGION)}`,
          },
        ],
        unit: 'short',
        w: 12,
        links: [tracesLink(`Traces in region ${seriesValue(REGION)}`, [REGION])],
      }),
    );
  return board.builder.build();
}

/** Retries, breakers, fallbacks, the response cache, timeouts, regions and stream resumptions. */
export function resilienceDashboard(): Dashboard {
  const ops = M.operations;
  const att = M.attempts;
  const board = dashboard(
    RESILIENCE_UID,
    RESILIENCE_TITLE,
    'The resilience policies of claude-otel-middleware at work: retries and their cost, circuit breakers, region failover and model fallback, the response cache, timeouts and stream resumption.',
    { uid: OVERVIEW_UID, title: OVERVIEW_TITLE },
  );
  const amplification = (by: readonly string[]) => `${att.sumRate(by)} / ${ops.sumRate(by, [], '_count')}`;
  const breakerKey = A.ANTHROPIC_BREAKER_KEY.name;
  const fallbackKind = A.ANTHROPIC_FALLBACK_KIND.name;

  board
    .row('Summary')
    .panel(
      stat({
        title: 'Attempts per operation',
        description: 'Retry amplification: HTTP attempts per operation (1 = no retries or failovers).',
        targets: [{ expr: amplification([]) }],
        unit: 'none',
        w: 6,
        thresholds: [
          { value: null, color: 'green' },
          { value: 1.2, color: 'orange' },
          { value: 2, color: 'red' },
        ],
      }),
    )
    .panel(
      stat({
        title: 'Retries/s',
        description: 'Retries scheduled by the retry policy per second.',
        targets: [{ expr: M.retries.sumRate([]) }],
        unit: 'reqps',
        w: 6,
      }),
    )
    .panel(
      stat({
        title: 'Fallbacks/s',
        description: 'Region failovers, model fallbacks and cached answers per second.',
        targets: [{ expr: M.fallbacks.sumRate([]) }],
        unit: 'reqps',
        w: 6,
      }),
    )
    .panel(
      stat({
        title: 'Open circuit breakers',
        description: 'Breakers currently open (state 2).',
        targets: [{ expr: `sum(${M.breakerState.select()} == bool 2)` }],
        unit: 'none',
        w: 6,
        thresholds: [
          { value: null, color: 'green' },
          { value: 1, color: 'red' },
        ],
      }),
    )
    .row('Retries')
    .panel(
      timeseries({
        title: 'Retries/s by reason (error.type)',
        description: '`anthropic.client.retries`: retries scheduled, by the `error.type` that caused them.',
        targets: [{ expr: M.retries.sumRate([ERROR_TYPE]), legend: legendLabel(ERROR_TYPE) }],
        unit: 'reqps',
        stacked: true,
        w: 12,
        links: [tracesLink(`Traces with error.type=${seriesValue(ERROR_TYPE)}`, [ERROR_TYPE])],
      }),
    )
    .panel(
      timeseries({
        title: 'Retry amplification: attempts per operation by model',
        description:
          '`anthropic.client.attempts` rate divided by the operation rate (`gen_ai.client.operation.duration` count).',
        targets: [{ expr: amplification([MODEL]), legend: legendLabel(MODEL) }],
        unit: 'none',
        min: 1,
        w: 12,
        links: [tracesLink(`Traces of ${seriesValue(MODEL)}`, [MODEL])],
      }),
    )
    .panel(
      timeseries({
        title: 'Retry delay p50 / p95 by source',
        description:
          '`anthropic.client.retry.delay`: the wait before each retry, from `retry_after` (the server) or `backoff`.',
        targets: M.retryDelay.percentiles([0.5, 0.95], A.ANTHROPIC_RETRY_SOURCE.name),
        unit: 's',
        w: 12,
      }),
    )
    .panel(
      timeseries({
        title: 'Retry budget exhausted/s by error.type',
        description:
          '`anthropic.client.retry_budget.exhausted`: retries refused because the client-wide retry budget was spent.',
        targets: [{ expr: M.budget.sumRate([ERROR_TYPE]), legend: legendLabel(ERROR_TYPE) }],
        unit: 'reqps',
        stacked: true,
        w: 12,
        links: [tracesLink(`Traces with error.type=${seriesValue(ERROR_TYPE)}`, [ERROR_TYPE])],
      }),
    )
    .row('Circuit breakers')
    .panel(
      states({
        title: 'Circuit breaker state per key',
        description: '`anthropic.client.circuit_breaker.state` per breaker (by default `{region}|{model}`).',
        targets: [
          {
            expr: `max by (${M.breakerState.label(breakerKey)}) (${M.breakerState.select()})`,
            legend: legendLabel(breakerKey),
          },
        ],
        mappings: [
          valueMap({
            '0': { text: 'closed', color: 'green' },
            '1': { text: 'half open', color: 'orange' },
            '2': { text: 'open', color: 'red' },
          }),
        ],
        w: 8,
      }),
    )
    .panel(
      timeseries({
        title: 'Circuit breaker transitions/s',
        description: '`anthropic.client.circuit_breaker.transitions` by breaker and from → to state.',
        targets: [
          {
            expr: M.transitions.sumRate([
              breakerKey,
              A.ANTHROPIC_BREAKER_FROM.name,
              A.ANTHROPIC_BREAKER_TO.name,
            ]),
            legend: `${legendLabel(breakerKey)}: ${legendLabel(A.ANTHROPIC_BREAKER_FROM.name)} → ${legendLabel(A.ANTHROPIC_BREAKER_TO.name)}`,
          },
        ],
        unit: 'ops',
        bars: true,
        w: 8,
        links: [tracesLink(`Traces of breaker ${seriesValue(breakerKey)}`, [breakerKey])],
      }),
    )
    .panel(
      timeseries({
        title: 'Circuit breaker rejections/s',
        description:
          '`anthropic.client.circuit_breaker.rejections`: attempts an open breaker refused to send.',
        targets: [{ expr: M.rejections.sumRate([breakerKey]), legend: legendLabel(breakerKey) }],
        unit: 'reqps',
        stacked: true,
        w: 8,
        links: [tracesLink(`Traces of breaker ${seriesValue(breakerKey)}`, [breakerKey])],
      }),
    )
    .panel(
      timeseries({
        title: 'Requests held by a breaker/s, by outcome',
        description:
          '`anthropic.client.circuit_breaker.wait.duration` count: first attempts that waited for an open breaker instead of being refused, by how the wait ended (`admitted`, `probe`, `refused`, `timeout`, `deadline`, `aborted`, `closed`).',
        targets: [
          {
            expr: M.breakerWait.sumRate([A.ANTHROPIC_BREAKER_WAIT_OUTCOME.name], [], '_count'),
            legend: legendLabel(A.ANTHROPIC_BREAKER_WAIT_OUTCOME.name),
          },
        ],
        unit: 'reqps',
        stacked: true,
        w: 12,
        links: [
          tracesLink(`Traces of waits that ended ${seriesValue(A.ANTHROPIC_BREAKER_WAIT_OUTCOME.name)}`, [
            A.ANTHROPIC_BREAKER_WAIT_OUTCOME.name,
          ]),
        ],
      }),
    )
    .panel(
      timeseries({
        title: 'Breaker wait p50/p95 by outcome',
        description:
          '`anthropic.client.circuit_breaker.wait.duration`: how long held requests waited for the breaker’s decision (at most `breaker.hold.maxWaitMs`).',
        targets: M.breakerWait.percentiles([0.5, 0.95], A.ANTHROPIC_BREAKER_WAIT_OUTCOME.name),
        unit: 's',
        w: 12,
      }),
    )
    .row('Fallbacks and cache')
    .panel(
      timeseries({
        title: 'Fallbacks/s by kind',
        description:
          '`anthropic.client.fallbacks`: `region` failovers, `model` fallbacks and `cache` answers.',
        targets: [{ expr: M.fallbacks.sumRate([fallbackKind]), legend: legendLabel(fallbackKind) }],
        unit: 'reqps',
        stacked: true,
        w: 8,
        links: [tracesLink(`Traces with ${seriesValue(fallbackKind)} fallbacks`, [fallbackKind])],
      }),
    )
    .panel(
      table({
        title: 'Fallbacks from → to',
        description:
          'Fallbacks in the time range, by kind, what was given up, what was used instead and why.',
        targets: [
          {
            expr: sumBy(
              [
                fallbackKind,
                A.ANTHROPIC_FALLBACK_FROM.name,
                A.ANTHROPIC_FALLBACK_TO.name,
                A.ANTHROPIC_FALLBACK_REASON.name,
              ].map((a) => M.fallbacks.label(a)),
              `increase(${M.fallbacks.select()}[$__range])`,
            ),
            table: true,
          },
        ],
        rename: {
          [promLabel(fallbackKind)]: 'kind',
          [promLabel(A.ANTHROPIC_FALLBACK_FROM.name)]: 'from',
          [promLabel(A.ANTHROPIC_FALLBACK_TO.name)]: 'to',
          [promLabel(A.ANTHROPIC_FALLBACK_REASON.name)]: 'reason',
          Value: 'fallbacks',
        },
        w: 8,
      }),
    )
    .panel(
      timeseries({
        title: 'Response-cache lookups/s by result',
        description:
          '`anthropic.client.cache.lookups`: lookups made after everything else failed, `hit` or `miss`.',
        targets: [
          {
            expr: M.cacheLookups.sumRate([A.ANTHROPIC_CACHE_RESULT.name]),
            legend: legendLabel(A.ANTHROPIC_CACHE_RESULT.name),
          },
        ],
        unit: 'reqps',
        stacked: true,
        w: 8,
      }),
    )
    .row('Timeouts, regions and streams')
    .panel(
      timeseries({
        title: 'Timeouts/s by kind',
        description:
          '`anthropic.client.timeouts`: `connect`, `first_chunk`, `idle` or `total` (the deadline).',
        targets: [
          {
            expr: M.timeouts.sumRate([A.ANTHROPIC_TIMEOUT_KIND.name]),
            legend: legendLabel(A.ANTHROPIC_TIMEOUT_KIND.name),
          },
        ],
        unit: 'reqps',
        stacked: true,
        w: 8,
        links: [
          tracesLink(`Traces with ${seriesValue(A.ANTHROPIC_TIMEOUT_KIND.name)} timeouts`, [
            A.ANTHROPIC_TIMEOUT_KIND.name,
          ]),
        ],
      }),
    )
    .panel(
      states({
        title: 'Region health',
        description:
          '`anthropic.client.region.health`: 1 healthy, 0 unhealthy (regions configured with health checks).',
        targets: [
          {
            expr: `min by (${M.regionHealth.label(REGION)}) (${M.regionHealth.select()})`,
            legend: legendLabel(REGION),
          },
        ],
        mappings: [
          valueMap({
            '1': { text: 'healthy', color: 'green' },
            '0': { text: 'unhealthy', color: 'red' },
          }),
        ],
        w: 8,
        links: [tracesLink(`Traces in region ${seriesValue(REGION)}`, [REGION])],
      }),
    )
    .panel(
      timeseries({
        title: 'Stream resumptions/s by outcome and reason',
        description:
          '`anthropic.client.stream.resumptions`: broken streams `resumed`, `failed` or `not_resumable`, and why they broke.',
        targets: [
          {
            expr: M.resumptions.sumRate([A.ANTHROPIC_RESUME_OUTCOME.name, A.ANTHROPIC_RESUME_REASON.name]),
            legend: `${legendLabel(A.ANTHROPIC_RESUME_OUTCOME.name)} (${legendLabel(A.ANTHROPIC_RESUME_REASON.name)})`,
          },
        ],
        unit: 'reqps',
        stacked: true,
        w: 8,
      }),
    )
    .row('Proactive throttle and fleet store')
    .panel(
      timeseries({
        title: 'Throttled requests/s by resource and outcome',
        description:
          '`anthropic.client.throttle.waits`: requests the proactive throttle held until the rate-limit headroom came back (`waited`) or answered at once (`rejected`), by the resource that ran out.',
        targets: [
          {
            expr: M.throttleWaits.sumRate([
              A.ANTHROPIC_THROTTLE_RESOURCE.name,
              A.ANTHROPIC_THROTTLE_OUTCOME.name,
            ]),
            legend: `${legendLabel(A.ANTHROPIC_THROTTLE_RESOURCE.name)} ${legendLabel(A.ANTHROPIC_THROTTLE_OUTCOME.name)}`,
          },
        ],
        unit: 'reqps',
        stacked: true,
        w: 8,
      }),
    )
    .panel(
      timeseries({
        title: 'Throttle delay p50/p95 by resource',
        description: '`anthropic.client.throttle.delay`: how long held requests waited before being sent.',
        targets: M.throttleDelay.percentiles([0.5, 0.95], A.ANTHROPIC_THROTTLE_RESOURCE.name),
        unit: 's',
        w: 8,
      }),
    )
    .panel(
      states({
        title: 'Fleet store',
        description:
          '`anthropic.client.store.state`: 1 while the breakers, budget, headroom and cache are shared through the store (Redis), 0 while a process runs on local state because the store failed or was slow.',
        targets: [{ expr: `min(${M.storeState.select()})`, legend: 'store' }],
        mappings: [
          valueMap({
            '1': { text: 'shared', color: 'green' },
            '0': { text: 'local only', color: 'orange' },
          }),
        ],
        w: 8,
      }),
    );
  return board.builder.build();
}

/** The dashboards and the file each one is written to, under `dashboards/`. */
export function dashboards(): Array<{ file: string; dashboard: Dashboard }> {
  return [
    { file: 'claude-overview.json', dashboard: overviewDashboard() },
    { file: 'claude-resilience.json', dashboard: resilienceDashboard() },
  ];
}

/** A dashboard as committed: pretty JSON with a trailing newline. */
export function renderDashboard(dashboard: Dashboard): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}
