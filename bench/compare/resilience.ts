/**
 * The resilience part of `bench:compare`: the scenario benchmark's workloads (bench/resilience) run
 * by the SDK's default retries, by a cockatiel policy stack around each SDK call, and by our
 * policies, one after the other in the same process against the same seeded faults.
 */
import {
  isWatchedBreaker,
  type RunResult,
  runScenario,
  type Variant,
  type WorkloadConfig,
} from '../resilience/harness.js';
import { REQUEST_MODEL, type Scenario, scenarios } from '../resilience/scenarios.js';
import { percentile } from '../shared.js';
import { cockatielStack } from './cockatiel.js';

/** The scenarios the comparison runs (keys of bench/resilience/scenarios.ts). */
export const COMPARED_SCENARIOS: ReadonlyArray<Scenario['key']> = [
  'steady',
  'burst',
  'rate-limit',
  'outage',
  'failover',
  'broken-streams',
];

const LABEL: Record<Variant, string> = {
  sdk: 'SDK default retries',
  cockatiel: 'cockatiel stack',
  ours: 'ours',
  'ours-resume': 'ours + resume',
};

export interface ResilienceRow {
  scenario: string;
  variant: string;
  successRate: number;
  attemptsPerRequest: number;
  p50Ms: number;
  p99Ms: number;
  /**
   * Real ms from the first request issued after the fault phase to the first of the run of
   * requests that succeed to the end (the invalid requests' own 400s aside); undefined: no phase,
   * or never.
   */
  recoverMs: number | undefined;
  /** Real ms from the phase end to the watched breaker closing again; undefined: no breaker opened. */
  breakerClosedMs: number | undefined;
  breakerOpened: number;
  failures: string;
}

function recovery(run: RunResult): number | undefined {
  const window = run.scenario.window;
  if (window === undefined) return undefined;
  const after = run.results.filter((r) => r.index >= window.end);
  const phaseEnd = after[0]?.issuedAt;
  if (phaseEnd === undefined) return undefined;
  let from: number | undefined;
  for (let i = after.length - 1; i >= 0; i--) {
    const r = after[i] as (typeof after)[number];
    if (r.ok) from = r.issuedAt;
    else if (r.error !== '400 invalid_request_error') break;
  }
  return from === undefined ? undefined : from - phaseEnd;
}

function row(run: RunResult): ResilienceRow {
  const requests = run.results.length;
  const latencies = run.results.map((r) => r.latencyMs);
  const failures = new Map<string, number>();
  for (const r of run.results)
    if (!r.ok) failures.set(r.error ?? '?', (failures.get(r.error ?? '?') ?? 0) + 1);
  const window = run.scenario.window;
  const phaseEnd = window && run.results.find((r) => r.index >= window.end)?.issuedAt;
  const watched = run.transitions.filter((t) => isWatchedBreaker(t.key));
  const opened = watched.filter((t) => t.to === 'open').length;
  let breakerClosedMs: number | undefined;
  if (phaseEnd !== undefined && opened > 0) {
    const last = watched.filter((t) => t.at <= phaseEnd).at(-1);
    if (last === undefined || last.to === 'closed') breakerClosedMs = 0;
    else {
      const closed = watched.find((t) => t.at > phaseEnd && t.to === 'closed');
      breakerClosedMs = closed === undefined ? Number.NaN : closed.at - phaseEnd;
    }
  }
  return {
    scenario: run.scenario.title,
    variant: LABEL[run.variant],
    successRate: run.results.filter((r) => r.ok).length / requests,
    attemptsPerRequest: run.server.length / requests,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    recoverMs: recovery(run),
    breakerClosedMs,
    breakerOpened: opened,
    failures: [...failures.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([type, n]) => `${type} ×${n}`)
      .join(', '),
  };
}

export async function compareResilience(
  config: WorkloadConfig,
  stallMs: number,
  progress: (line: string) => void,
): Promise<{ rows: ResilienceRow[]; cockatielSettings: string }> {
  const all = scenarios({
    requests: config.requests,
    seed: config.seed,
    stallMs,
    timeScale: config.timeScale,
  });
  const rows: ResilienceRow[] = [];
  let cockatielSettings = '';
  for (const scenario of all.filter((s) => COMPARED_SCENARIOS.includes(s.key))) {
    const variants: Variant[] = [
      'sdk',
      'cockatiel',
      'ours',
      ...(scenario.resume ? ['ours-resume' as const] : []),
    ];
    for (const variant of variants) {
      const stack =
        variant === 'cockatiel' ? cockatielStack(config.timeScale, `primary|${REQUEST_MODEL}`) : undefined;
      if (stack) cockatielSettings = stack.settings;
      const run = await runScenario(scenario, variant, config, stack?.policy);
      progress(`${scenario.title}, ${LABEL[variant]}: ${(run.wallMs / 1000).toFixed(2)} s`);
      rows.push(row(run));
    }
  }
  return { rows, cockatielSettings };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
const ms = (x: number | undefined): string =>
  x === undefined
    ? '—'
    : Number.isNaN(x)
      ? 'not by the end'
      : x >= 1000
        ? `${(x / 1000).toFixed(2)} s`
        : `${x.toFixed(0)} ms`;

export function resilienceTable(rows: readonly ResilienceRow[]): string {
  const header = [
    'scenario',
    'variant',
    'success',
    'attempts/req',
    'p50',
    'p99',
    'recovered after the phase',
    'breaker opened / closed after the phase',
  ];
  const body = rows.map((r) => [
    r.scenario,
    r.variant,
    pct(r.successRate),
    r.attemptsPerRequest.toFixed(2),
    ms(r.p50Ms),
    ms(r.p99Ms),
    ms(r.recoverMs),
    r.breakerOpened === 0 ? '—' : `${r.breakerOpened}× / ${ms(r.breakerClosedMs)}`,
  ]);
  return [header, header.map(() => '---'), ...body].map((r) => `| ${r.join(' | ')} |`).join('\n');
}
