/**
 * The Prometheus queries of a dashboard's panels with their Grafana variables substituted, so a test
 * can run every one of them against a real Prometheus.
 */

/** One query of one panel, ready to send to Prometheus. */
export interface PanelQuery {
  /** The dashboard's title. */
  readonly dashboard: string;
  /** The panel's title (inside a row: `Row / Panel`). */
  readonly panel: string;
  readonly refId: string;
  /** The PromQL expression with every variable substituted. */
  readonly expr: string;
}

/** Values used for Grafana's built-in interval variables unless `vars` gives others. */
export const BUILTIN_DEFAULTS: Readonly<Record<string, string>> = {
  __rate_interval: '1m',
  __interval: '15s',
  __interval_ms: '15000',
  __range: '15m',
  __range_s: '900',
  __range_ms: '900000',
};

interface JsonPanel {
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string } | null;
  targets?: Array<{ refId?: string; expr?: string; hide?: boolean; datasource?: { type?: string } | null }>;
  panels?: JsonPanel[];
}

interface JsonVariable {
  name?: string;
  includeAll?: boolean;
  allValue?: string;
}

interface JsonDashboard {
  title?: string;
  panels?: JsonPanel[];
  templating?: { list?: JsonVariable[] };
}

/** Every panel of a dashboard, rows (collapsed or not) included, with the titles of the rows above it. */
export function walkPanels(dashboard: object): Array<{ path: string; panel: JsonPanel }> {
  const out: Array<{ path: string; panel: JsonPanel }> = [];
  const visit = (panels: JsonPanel[] | undefined, prefix: string): void => {
    for (const panel of panels ?? []) {
      const title = panel.title ?? '(untitled)';
      if (panel.type === 'row') {
        visit(panel.panels, `${prefix}${title} / `);
      } else {
        out.push({ path: `${prefix}${title}`, panel });
        visit(panel.panels, `${prefix}${title} / `);
      }
    }
  };
  visit((dashboard as JsonDashboard).panels, '');
  return out;
}

// `$name`, `[[name]]`, `${name}` and `${name:format}`; names may contain dots (`__field.labels.x`).
const VARIABLE = /\$\{([\w.]+)(?::[^}]*)?\}|\[\[([\w.]+)(?::[^\]]*)?\]\]|\$([A-Za-z_]\w*)/g;

/**
 * Substitutes Grafana variables in `text`: a value from `vars` first, then the built-in interval
 * defaults, then the "All" value (`allValue`, else `.*`) of a dashboard variable that offers one.
 * Values are inserted as given (format suffixes such as `:regex` are not applied), so pass for a
 * regex matcher (`=~"$model"`) a regex. Throws on a variable it cannot resolve.
 */
export function substitute(text: string, vars: Record<string, string>, dashboard: object = {}): string {
  const declared = new Map(
    ((dashboard as JsonDashboard).templating?.list ?? []).map((v) => [v.name ?? '', v] as const),
  );
  return text.replace(VARIABLE, (match, braced?: string, bracketed?: string, bare?: string) => {
    const name = braced ?? bracketed ?? bare ?? '';
    const given = vars[name] ?? BUILTIN_DEFAULTS[name];
    if (given !== undefined) return given;
    const variable = declared.get(name);
    if (variable?.includeAll) return variable.allValue ?? '.*';
    throw new Error(`no value for Grafana variable ${match} (pass it in vars)`);
  });
}

/**
 * Every Prometheus query of every panel of `dashboard` (a dashboard JSON model), rows and collapsed
 * rows included, with its Grafana variables (`$var`, `${var}`, `${var:format}`, `$__rate_interval`,
 * `$__interval`, `$__range`, …) substituted by {@link substitute}. Hidden queries and queries of other
 * datasource types are left out.
 */
export function panelQueries(
  dashboard: object,
  vars: Record<string, string>,
): Array<{ dashboard: string; panel: string; refId: string; expr: string }> {
  const title = (dashboard as JsonDashboard).title ?? '(untitled)';
  const out: PanelQuery[] = [];
  for (const { path, panel } of walkPanels(dashboard)) {
    for (const [index, target] of (panel.targets ?? []).entries()) {
      if (target.expr === undefined || target.hide === true) continue;
      const type = target.datasource?.type ?? panel.datasource?.type ?? 'prometheus';
      if (type !== 'prometheus') continue;
      out.push({
        dashboard: title,
        panel: path,
        refId: target.refId ?? String.fromCharCode(65 + index),
        expr: substitute(target.expr, vars, dashboard),
      });
    }
  }
  return out;
}
