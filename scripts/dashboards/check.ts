/**
 * Consistency checks of a dashboard JSON model against `src/telemetry/names.ts`: every metric a
 * query names is declared (in its Prometheus form), every label it matches or groups by is one the
 * metric carries, the service/model/region filters are applied wherever the metric has the label,
 * and every panel reads from the `datasource` variable. Each check returns the problems it found
 * (empty when the dashboard is consistent); `npm run dashboards` and the unit tests run them.
 */
import { METRICS, type MetricSpec } from '../../src/telemetry/names.js';
import { BUCKET_LABEL, promLabel, promLabels, promName, promSeriesNames, SERVICE_LABEL } from './prom.js';
import { walkPanels } from './queries.js';

interface JsonTarget {
  refId?: string;
  expr?: string;
  legendFormat?: string;
  datasource?: { type?: string; uid?: string } | null;
}
interface JsonPanel {
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string } | null;
  targets?: JsonTarget[];
}
interface JsonVariable {
  type?: string;
  name?: string;
  query?: unknown;
  datasource?: { type?: string; uid?: string } | null;
}
interface JsonDashboard {
  title?: string;
  templating?: { list?: JsonVariable[] };
}

/** The Prometheus datasource reference every panel, query and query variable must use. */
export const DATASOURCE_REF = { type: 'prometheus', uid: `\${datasource}` } as const;

/**
 * The dashboard filters: variable, label, the attribute whose metrics apply them (none: every metric)
 * and the matcher the queries use.
 */
export const FILTERS = [
  { variable: 'service', label: SERVICE_LABEL, attribute: undefined, matcher: `${SERVICE_LABEL}="$service"` },
  {
    variable: 'model',
    label: promLabel('gen_ai.request.model'),
    attribute: 'gen_ai.request.model',
    matcher: `${promLabel('gen_ai.request.model')}=~"$model"`,
  },
  {
    variable: 'region',
    label: promLabel('anthropic.region'),
    attribute: 'anthropic.region',
    matcher: `${promLabel('anthropic.region')}=~"$region"`,
  },
] as const;

/** Series name → the metric it belongs to. */
const SERIES: ReadonlyMap<string, MetricSpec> = new Map(
  Object.values(METRICS as Record<string, MetricSpec>).flatMap((spec) =>
    promSeriesNames(spec).map((name) => [name, spec] as const),
  ),
);

/** One series selector of a PromQL expression. */
export interface Selector {
  readonly metric: string;
  readonly matchers: ReadonlyArray<{ label: string; op: string; value: string }>;
  readonly text: string;
}

const KEYWORDS = new Set([
  'by',
  'without',
  'bool',
  'and',
  'or',
  'unless',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'inf',
  'nan',
]);

/** The series selectors of a PromQL expression (metric name with optional `{…}`). */
export function selectors(expr: string): Selector[] {
  const out: Selector[] = [];
  // Blank out string literals outside braces, `[range]`s and `by (…)` lists so their words are not taken for metrics.
  const re =
    /"(?:[^"\\]|\\.)*"|\[[^\]]*\]|\b(?:by|without|on|ignoring)\s*\([^)]*\)|([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?|\{[^}]*\}/g;
  for (const m of expr.matchAll(re)) {
    const name = m[1];
    if (name === undefined) continue;
    const end = (m.index ?? 0) + m[0].length;
    if (m[2] === undefined && /^\s*(?:\(|(?:by|without)\s*\()/.test(expr.slice(end))) continue; // a function or aggregation
    if (KEYWORDS.has(name.toLowerCase()) || /^\d/.test(name)) continue;
    const matchers = [...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map(
      (x) => ({ label: x[1] ?? '', op: x[2] ?? '', value: x[3] ?? '' }),
    );
    out.push({ metric: name, matchers, text: m[0].trim() });
  }
  return out;
}

/** The labels of every `by (…)` / `without (…)` list and `label_replace` target of an expression. */
export function groupingLabels(expr: string): string[] {
  const lists = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) =>
    (m[1] ?? '').split(',').map((l) => l.trim()),
  );
  const replaced = [...expr.matchAll(/label_replace\([\s\S]*?,\s*"(\w+)"\s*,/g)].map((m) => m[1] ?? '');
  return [...lists, ...replaced].filter((l) => l !== '');
}

interface Query {
  readonly where: string;
  readonly expr: string;
  readonly legend?: string;
  /** Whether the dashboard filters must apply (not in the variables' own queries). */
  readonly filtered: boolean;
}

function queriesOf(dashboard: object): Query[] {
  const d = dashboard as JsonDashboard;
  const out: Query[] = [];
  for (const { path, panel } of walkPanels(dashboard) as Array<{ path: string; panel: JsonPanel }>) {
    for (const t of panel.targets ?? []) {
      if (t.expr !== undefined)
        out.push({
          where: `${path} [${t.refId ?? '?'}]`,
          expr: t.expr,
          legend: t.legendFormat,
          filtered: true,
        });
    }
  }
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const text =
      typeof v.query === 'string' ? v.query : ((v.query as { query?: string } | undefined)?.query ?? '');
    // label_values(selector, label): check the selector, and the label as a grouping label.
    const lv = /^label_values\((.*),\s*(\w+)\)$/.exec(text.trim());
    out.push({
      where: `variable ${v.name}`,
      expr: lv ? `sum by (${lv[2]}) (${lv[1]})` : text,
      filtered: false,
    });
  }
  return out;
}

/** Metric names that are not a declared metric's Prometheus series, and labels a metric lacks. */
export function checkMetrics(dashboard: object): string[] {
  const problems: string[] = [];
  for (const q of queriesOf(dashboard)) {
    const sels = selectors(q.expr);
    if (sels.length === 0) problems.push(`${q.where}: no metric in ${q.expr}`);
    const available = new Set<string>();
    for (const s of sels) {
      const spec = SERIES.get(s.metric);
      if (spec === undefined) {
        problems.push(`${q.where}: ${s.metric} is not the Prometheus name of a metric in METRICS`);
        continue;
      }
      const labels = new Set(promLabels(spec));
      for (const l of labels) available.add(l);
      for (const m of s.matchers) {
        if (!labels.has(m.label)) problems.push(`${q.where}: ${s.metric} has no label ${m.label}`);
      }
      for (const f of FILTERS) {
        const applies = f.attribute === undefined || spec.attributes.includes(f.attribute);
        const applied = s.matchers.some((m) => `${m.label}${m.op}"${m.value}"` === f.matcher);
        if (q.filtered && applies && !applied)
          problems.push(`${q.where}: ${s.metric} is not filtered by $${f.variable}`);
        if (!applies && s.matchers.some((m) => m.label === f.label)) {
          problems.push(`${q.where}: ${s.metric} is filtered on ${f.label}, which it does not carry`);
        }
      }
    }
    const grouped = groupingLabels(q.expr);
    for (const l of grouped) {
      if (!available.has(l)) problems.push(`${q.where}: groups by ${l}, which none of its metrics carries`);
    }
    if (/\bhistogram_quantile\b/.test(q.expr) && !grouped.includes(BUCKET_LABEL)) {
      problems.push(`${q.where}: histogram_quantile without grouping by ${BUCKET_LABEL}`);
    }
    for (const m of (q.legend ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
      const label = m[1] ?? '';
      if (!grouped.includes(label))
        problems.push(`${q.where}: legend uses ${label}, which the query does not keep`);
    }
  }
  return problems;
}

function sameRef(ref: { type?: string; uid?: string } | null | undefined): boolean {
  return ref?.type === DATASOURCE_REF.type && ref.uid === DATASOURCE_REF.uid;
}

/** Panels, queries and query variables that do not read from the `datasource` variable. */
export function checkDatasources(dashboard: object): string[] {
  const problems: string[] = [];
  for (const { path, panel } of walkPanels(dashboard) as Array<{ path: string; panel: JsonPanel }>) {
    if (!sameRef(panel.datasource)) problems.push(`${path}: panel datasource is not \${datasource}`);
    if ((panel.targets ?? []).length === 0) problems.push(`${path}: no queries`);
    for (const t of panel.targets ?? []) {
      if (t.datasource !== undefined && !sameRef(t.datasource)) {
        problems.push(`${path} [${t.refId ?? '?'}]: query datasource is not \${datasource}`);
      }
    }
  }
  for (const v of (dashboard as JsonDashboard).templating?.list ?? []) {
    if (v.type === 'query' && !sameRef(v.datasource))
      problems.push(`variable ${v.name}: datasource is not \${datasource}`);
  }
  return problems;
}

/** Missing template variables: the Prometheus datasource variable and the three filters. */
export function checkVariables(dashboard: object): string[] {
  const list = (dashboard as JsonDashboard).templating?.list ?? [];
  const byName = new Map(list.map((v) => [v.name, v]));
  const problems: string[] = [];
  const ds = byName.get('datasource');
  if (ds?.type !== 'datasource' || ds.query !== 'prometheus') {
    problems.push('no variable "datasource" of type datasource selecting prometheus datasources');
  }
  for (const f of FILTERS) {
    if (byName.get(f.variable)?.type !== 'query') problems.push(`no query variable "${f.variable}"`);
  }
  return problems;
}

/** Every check. */
export function checkDashboard(dashboard: object): string[] {
  return [...checkVariables(dashboard), ...checkDatasources(dashboard), ...checkMetrics(dashboard)];
}

/** The Prometheus metric names (families) the dashboard's queries use, sorted. */
export function metricFamilies(dashboard: object): string[] {
  const names = new Set<string>();
  for (const q of queriesOf(dashboard)) {
    for (const s of selectors(q.expr)) {
      const spec = SERIES.get(s.metric);
      names.add(spec === undefined ? s.metric : promName(spec));
    }
  }
  return [...names].sort();
}
