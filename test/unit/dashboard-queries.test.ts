// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Grafana variables (`${var}`) are plain text here.
import { describe, expect, it } from 'vitest';
import { dashboards } from '../../scripts/dashboards/build.js';
import { BUILTIN_DEFAULTS, panelQueries, substitute } from '../../scripts/dashboards/queries.js';

const prom = { type: 'prometheus', uid: '${datasource}' };

const sample = {
  title: 'Sample',
  templating: {
    list: [
      { name: 'datasource', type: 'datasource' },
      { name: 'service', type: 'query' },
      { name: 'model', type: 'query', includeAll: true, allValue: 'claude-.*' },
      { name: 'region', type: 'query', includeAll: true },
    ],
  },
  panels: [
    {
      type: 'timeseries',
      title: 'Top',
      datasource: prom,
      targets: [
        { refId: 'A', expr: 'sum(rate(a_total{service_name="$service"}[$__rate_interval]))' },
        { refId: 'B', expr: 'hidden_total', hide: true },
        { refId: 'C', expr: 'b{m=~"${model:regex}", r=~"[[region]]"}[$__interval] offset $__range' },
      ],
    },
    { type: 'row', title: 'Open row', collapsed: false, panels: [] },
    {
      type: 'row',
      title: 'Collapsed',
      collapsed: true,
      panels: [
        { type: 'stat', title: 'Inner', datasource: prom, targets: [{ expr: 'c{s="${service}"}' }] },
        {
          type: 'logs',
          title: 'Logs',
          datasource: { type: 'loki', uid: 'x' },
          targets: [{ expr: '{app="x"}' }],
        },
        {
          type: 'timeseries',
          title: 'Mixed',
          datasource: { type: 'datasource', uid: '-- Mixed --' },
          targets: [
            { refId: 'A', expr: 'd', datasource: prom },
            { refId: 'B', expr: '{job="x"}', datasource: { type: 'loki' } },
          ],
        },
      ],
    },
  ],
};

describe('panelQueries', () => {
  it('walks top-level panels and collapsed rows, skipping hidden and non-Prometheus queries', () => {
    const queries = panelQueries(sample, { service: 'app' });
    expect(queries.map((q) => [q.dashboard, q.panel, q.refId])).toEqual([
      ['Sample', 'Top', 'A'],
      ['Sample', 'Top', 'C'],
      ['Sample', 'Collapsed / Inner', 'A'],
      ['Sample', 'Collapsed / Mixed', 'A'],
    ]);
  });

  it('substitutes $var, ${var}, ${var:format}, [[var]] and the interval variables', () => {
    const [a, c, inner] = panelQueries(sample, { service: 'app', model: 'claude-sonnet-4-6', region: 'eu' });
    expect(a?.expr).toBe(`sum(rate(a_total{service_name="app"}[${BUILTIN_DEFAULTS.__rate_interval}]))`);
    expect(c?.expr).toBe(
      `b{m=~"claude-sonnet-4-6", r=~"eu"}[${BUILTIN_DEFAULTS.__interval}] offset ${BUILTIN_DEFAULTS.__range}`,
    );
    expect(inner?.expr).toBe('c{s="app"}');
  });

  it('lets vars override the built-in intervals', () => {
    const [a] = panelQueries(sample, { service: 'app', __rate_interval: '20s' });
    expect(a?.expr).toContain('[20s]');
  });

  it('uses the All value of a variable that offers one when vars lack it', () => {
    const [, c] = panelQueries(sample, { service: 'app' });
    expect(c?.expr).toContain('m=~"claude-.*"');
    expect(c?.expr).toContain('r=~".*"');
  });

  it('throws on a variable it cannot resolve', () => {
    expect(() => panelQueries(sample, {})).toThrow(/\$service/);
    expect(() => substitute('x{a="$nope"}', {})).toThrow(/\$nope/);
    expect(() => substitute('x{a="${nope:regex}"}', {})).toThrow(/nope/);
  });

  it('returns every query of the generated dashboards with no variable left', () => {
    for (const { dashboard } of dashboards()) {
      const queries = panelQueries(dashboard, { service: 'app', model: '.*', region: '.*' });
      const targets = (dashboard.panels ?? []).flatMap((p) => ('targets' in p ? (p.targets ?? []) : []));
      expect(queries).toHaveLength(targets.length);
      expect(queries.length).toBeGreaterThan(10);
      for (const q of queries) {
        expect(q.expr, `${q.panel} [${q.refId}]`).not.toMatch(/\$|\[\[/);
        expect(q.dashboard).toBe(dashboard.title);
      }
    }
  });
});
