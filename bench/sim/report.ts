/**
 * The simulator's tables: per scenario and variant over several seeds (success, requests lost
 * against the SDK, attempts per request against the floor, attempts once the breaker is open,
 * breaker close time), and the requests lost against the SDK over a grid of workload shapes.
 */
import {
  lost,
  type Measures,
  measure,
  openPhaseOf,
  type Shape,
  type SimConfig,
  type SimRun,
  type SimVariant,
  simScenarios,
  simulate,
} from './simulate.js';

export const VARIANT_LABEL: Record<SimVariant, string> = {
  sdk: 'SDK default retries',
  cockatiel: 'cockatiel stack',
  'ours-old': 'ours, old defaults (30 s doubling, fail fast)',
  ours: 'ours (hold, 5 s)',
  'ours-resume': 'ours + resume',
};

export interface SimOptions {
  requests: number;
  seeds: number[];
  shape: Shape;
  grid: Shape[];
  /** Seeds of the grid runs. */
  gridSeeds: number[];
  timeScale: number;
  only: string[] | undefined;
  progress?: (line: string) => void;
}

/** The variants of a scenario: ours with resume where it streams a final message. */
const variantsOf = (resume: boolean | undefined): SimVariant[] =>
  resume ? ['sdk', 'cockatiel', 'ours-old', 'ours', 'ours-resume'] : ['sdk', 'cockatiel', 'ours-old', 'ours'];

/** The variant whose goals count: ours, or ours + resume in the broken-stream scenario. */
const judged = (resume: boolean | undefined): SimVariant => (resume ? 'ours-resume' : 'ours');

interface Cell {
  measures: Measures[];
  lost: number;
}

/** Runs every scenario with every variant for `seeds` at `shape`. */
async function runAll(
  shape: Shape,
  seeds: number[],
  o: SimOptions,
): Promise<Map<string, Map<SimVariant, Cell>>> {
  const out = new Map<string, Map<SimVariant, Cell>>();
  for (const seed of seeds) {
    const config: SimConfig = { ...shape, requests: o.requests, seed, timeScale: o.timeScale };
    for (const scenario of simScenarios(config)) {
      if (o.only && !o.only.includes(scenario.key)) continue;
      const runs = new Map<SimVariant, SimRun>();
      for (const v of variantsOf(scenario.resume)) runs.set(v, await simulate(scenario, v, config));
      // The outage's requests issued once our breaker had opened: the same indices for everyone.
      const open = openPhaseOf(runs.get('ours') as SimRun);
      const sdk = runs.get('sdk') as SimRun;
      const row = out.get(scenario.title) ?? new Map<SimVariant, Cell>();
      for (const [v, run] of runs) {
        const cell = row.get(v) ?? { measures: [], lost: 0 };
        cell.measures.push(measure(run, open));
        cell.lost += lost(sdk, run);
        row.set(v, cell);
      }
      out.set(scenario.title, row);
      o.progress?.(
        `seed ${seed}, latency ${shape.latencyMs} / interval ${shape.intervalMs} / concurrency ${shape.concurrency}: ${scenario.title}`,
      );
    }
  }
  return out;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '—');

function closeTimes(ms: Array<number | undefined>): string {
  const xs = ms.filter((x): x is number => x !== undefined);
  if (xs.length === 0) return '—';
  if (xs.some((x) => Number.isNaN(x))) return 'not by the end';
  return `${xs.map((x) => (x / 1000).toFixed(1)).join(' / ')} s`;
}

export interface SimReport {
  markdown: string;
  /** Scenario title → variant → success count summed over seeds, for the determinism test. */
  totals: Record<string, Record<string, number>>;
}

export async function simReport(o: SimOptions): Promise<SimReport> {
  const main = await runAll(o.shape, o.seeds, o);
  const lines: string[] = [];
  const totals: SimReport['totals'] = {};
  const header = [
    'scenario',
    'variant',
    'success',
    'lost vs SDK',
    'attempts/req',
    'floor/req',
    'attempts ÷ floor',
    'attempts/req once breaker open',
    'breaker closed after the fault (per seed)',
    'text mismatches',
  ];
  lines.push(`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`);
  const verdicts: string[] = [];
  for (const [title, row] of main) {
    totals[title] = {};
    const sdk = row.get('sdk') as Cell;
    const sdkSuccess = sum(sdk.measures.map((m) => m.success));
    for (const [v, cell] of row) {
      const m = cell.measures;
      const requests = sum(m.map((x) => x.requests));
      const success = sum(m.map((x) => x.success));
      totals[title][v] = success;
      const attempts = sum(m.map((x) => x.attempts));
      const floor = sum(m.map((x) => x.floor));
      const openN = sum(m.map((x) => x.open?.requests ?? 0));
      const openA = sum(m.map((x) => x.openAttempts));
      lines.push(
        `| ${[
          title,
          VARIANT_LABEL[v],
          pct(success / requests),
          String(cell.lost),
          f2(attempts / requests),
          f2(floor / requests),
          f2(attempts / floor),
          openN > 0 ? `${f2(openA / openN)} (${openN} req)` : '—',
          v === 'sdk' ? '—' : closeTimes(m.map((x) => x.closedAfterMs)),
          m[0]?.mismatches === undefined || title.indexOf('broken') < 0
            ? '—'
            : String(sum(m.map((x) => x.mismatches))),
        ].join(' | ')} |`,
      );
    }
    const resume = title.includes('broken');
    const mine = row.get(judged(resume)) as Cell;
    const mineSuccess = sum(mine.measures.map((x) => x.success));
    verdicts.push(
      `- ${title}: success ${VARIANT_LABEL[judged(resume)]} ${mineSuccess} vs SDK ${sdkSuccess}, lost vs SDK ${mine.lost} (goal 0): ${mine.lost === 0 && mineSuccess >= sdkSuccess ? 'MET' : 'MISSED'}`,
    );
    const attempts = sum(mine.measures.map((x) => x.attempts));
    const floor = sum(mine.measures.map((x) => x.floor));
    verdicts.push(
      `- ${title}: attempts ${attempts} vs floor ${floor} (${f2(attempts / floor)}×; goal ≤ 1.10×): ${attempts <= 1.1 * floor ? 'MET' : 'MISSED'}`,
    );
    if (title.startsWith('1.')) {
      const perReq = attempts / sum(mine.measures.map((x) => x.requests));
      verdicts.push(
        `- ${title}: attempts per request ${f2(perReq)} (goal ≤ 1.1): ${perReq <= 1.1 ? 'MET' : 'MISSED'}`,
      );
    }
    if (title.startsWith('4.')) {
      const n = sum(mine.measures.map((x) => x.open?.requests ?? 0));
      const a = sum(mine.measures.map((x) => x.openAttempts));
      const s = sum(sdk.measures.map((x) => x.openAttempts));
      verdicts.push(
        n === 0
          ? `- ${title}: the breaker never opened: MISSED`
          : `- ${title}: attempts per request once the breaker is open ${f2(a / n)}: ${a} attempts reached the API while ${n} requests were issued (SDK ${f2(s / n)}; goal ≤ 0.25): ${a / n <= 0.25 ? 'MET' : 'MISSED'}`,
      );
    }
    const closes = mine.measures.map((x) => x.closedAfterMs).filter((x): x is number => x !== undefined);
    if (closes.length > 0) {
      // One open period (5 s) plus one probe (the API's latency).
      const bound = 5_000 + o.shape.latencyMs / o.timeScale;
      const worst = Math.max(...closes.map((x) => (Number.isNaN(x) ? Number.POSITIVE_INFINITY : x)));
      verdicts.push(
        `- ${title}: breaker closed ${closeTimes(closes)} after the fault (goal ≤ one open period + one probe = ${(bound / 1000).toFixed(1)} s): ${worst <= bound ? 'MET' : 'MISSED'}`,
      );
    }
  }
  const out: string[] = [
    `Seeds ${o.seeds.join(', ')}; ${o.requests} requests per run; latency ${o.shape.latencyMs} / interval ${o.shape.intervalMs} harness ms (${(o.shape.latencyMs / o.timeScale / 1000).toFixed(1)} s / ${(o.shape.intervalMs / o.timeScale / 1000).toFixed(1)} s of world time), concurrency ${o.shape.concurrency}. Counts are summed over the seeds.`,
    '',
    ...lines,
    '',
    'Goals (ours; ours + resume for broken streams):',
    '',
    ...verdicts,
  ];
  if (o.grid.length > 0) {
    const gridHeader = [
      'latency / interval / concurrency',
      'cockatiel lost',
      'ours, old defaults, lost',
      'ours lost',
      'ours success − SDK (points, worst scenario)',
    ];
    out.push(
      '',
      `Requests lost against the SDK over the grid (every scenario, seeds ${o.gridSeeds.join(', ')}; ours + resume for broken streams):`,
      '',
      `| ${gridHeader.join(' | ')} |`,
      `| ${gridHeader.map(() => '---').join(' | ')} |`,
    );
    const totalsLost: Record<string, number> = { cockatiel: 0, 'ours-old': 0, ours: 0 };
    for (const shape of o.grid) {
      const grid = await runAll(shape, o.gridSeeds, o);
      const lostBy: Record<string, number> = { cockatiel: 0, 'ours-old': 0, ours: 0 };
      let worst = Number.POSITIVE_INFINITY;
      for (const [title, row] of grid) {
        const resume = title.includes('broken');
        for (const v of ['cockatiel', 'ours-old'] as const)
          lostBy[v] = (lostBy[v] ?? 0) + (row.get(v)?.lost ?? 0);
        const mine = row.get(judged(resume)) as Cell;
        lostBy.ours = (lostBy.ours ?? 0) + mine.lost;
        const sdk = row.get('sdk') as Cell;
        const d =
          (sum(mine.measures.map((x) => x.success)) - sum(sdk.measures.map((x) => x.success))) /
          sum(sdk.measures.map((x) => x.requests));
        worst = Math.min(worst, d);
      }
      for (const k of Object.keys(totalsLost)) totalsLost[k] = (totalsLost[k] ?? 0) + (lostBy[k] ?? 0);
      out.push(
        `| ${shape.latencyMs} / ${shape.intervalMs} / ${shape.concurrency} | ${lostBy.cockatiel} | ${lostBy['ours-old']} | ${lostBy.ours} | ${(worst * 100).toFixed(1)} |`,
      );
    }
    out.push(`| all | ${totalsLost.cockatiel} | ${totalsLost['ours-old']} | ${totalsLost.ours} | |`);
  }
  return { markdown: out.join('\n'), totals };
}
