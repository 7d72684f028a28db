/**
 * The resilience simulator (bench/sim) is deterministic: the same seed gives the same table, a
 * different seed a different run; and virtual time is removed afterwards (the real timers are back).
 */
import { describe, expect, it } from 'vitest';
import { simReport } from '../../bench/sim/report.js';
import { simScenarios, simulate } from '../../bench/sim/simulate.js';

const tiny = (seed: number) => ({
  requests: 40,
  seeds: [seed],
  shape: { latencyMs: 40, intervalMs: 8, concurrency: 8 },
  grid: [],
  gridSeeds: [],
  timeScale: 0.01,
  only: ['outage'],
});

describe('resilience simulator', () => {
  it('same seed, same table', async () => {
    const realSetTimeout = globalThis.setTimeout;
    const realNow = Date.now;
    const a = await simReport(tiny(1));
    const b = await simReport(tiny(1));
    expect(b.markdown).toBe(a.markdown);
    expect(a.markdown).toContain('4. full outage (503), then recovery');
    expect(globalThis.setTimeout).toBe(realSetTimeout);
    expect(Date.now).toBe(realNow);
  });

  it('the same run arrives at the API at the same virtual times; another seed differs', async () => {
    const config = { requests: 40, seed: 2, timeScale: 0.01, latencyMs: 40, intervalMs: 8, concurrency: 8 };
    const scenario = simScenarios(config).find((s) => s.key === 'steady');
    if (scenario === undefined) throw new Error('no steady scenario');
    const first = await simulate(scenario, 'sdk', config);
    const again = await simulate(scenario, 'sdk', config);
    const times = (r: typeof first) => r.arrivals.map((x) => `${x.index}.${x.attempt}@${x.t}`);
    expect(times(again)).toEqual(times(first));
    const other = simScenarios({ ...config, seed: 5 }).find((s) => s.key === 'steady');
    if (other === undefined) throw new Error('no steady scenario');
    const differs = await simulate(other, 'sdk', { ...config, seed: 5 });
    expect(times(differs)).not.toEqual(times(again));
  });
});
