import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  PROBE_DEFAULTS,
  type ProbeOptions,
  REGION_HEALTH_DEFAULTS,
  type RegionConfig,
  type RegionHealth,
  type RegionHealthOptions,
  RegionProber,
  RegionRouter,
  rewriteUrl,
} from '../../../src/policies/regions.js';
import type { Random } from '../../../src/policies/types.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { seeded, sequence } from '../../helpers/random.js';

const constant =
  (value: number): Random =>
  () =>
    value;

function region(name: string, extra: Partial<RegionConfig> = {}): RegionConfig {
  return { name, baseURL: `https://${name}.example.com`, ...extra };
}

type Change = [name: string, from: RegionHealth, to: RegionHealth];

function setup(
  regions: readonly RegionConfig[] = [region('a'), region('b'), region('c')],
  options?: RegionHealthOptions,
  random: Random = constant(0),
  clock = new FakeClock(),
) {
  const router = new RegionRouter(regions, options, clock, random);
  const changes: Change[] = [];
  router.onHealthChange((name, from, to) => changes.push([name, from, to]));
  return { router, clock, changes };
}

const names = (list: readonly RegionConfig[]): string[] => list.map((r) => r.name);

function fail(router: RegionRouter, name: string, times: number): void {
  for (let i = 0; i < times; i++) router.recordFailure(name);
}

function succeed(router: RegionRouter, name: string, times: number): void {
  for (let i = 0; i < times; i++) router.recordSuccess(name);
}

describe('RegionRouter validation', () => {
  const clock = new FakeClock();
  const make = (regions: unknown, options?: unknown) => () =>
    new RegionRouter(
      regions as RegionConfig[],
      options as RegionHealthOptions | undefined,
      clock,
      constant(0),
    );

  it('needs at least one region', () => {
    expect(make([])).toThrow(new TypeError('regions must be a non-empty array of { name, baseURL }'));
    expect(make(undefined)).toThrow(TypeError);
  });

  it('needs unique non-empty names', () => {
    expect(make([region('a'), region('b'), region('a')])).toThrow(/duplicate region name "a"/);
    expect(make([{ name: '', baseURL: 'https://x.example.com' }])).toThrow(/regions\[0\]\.name/);
    expect(make([region('a'), { baseURL: 'https://x.example.com' }])).toThrow(/regions\[1\]\.name/);
    expect(make([null])).toThrow(/regions\[0\] must be an object/);
  });

  it('needs an http(s) baseURL without credentials, query or fragment', () => {
    const cases: [unknown, RegExp][] = [
      ['not a url', /region "r": baseURL must be an absolute http\(s\) URL, got not a url/],
      ['/relative/path', /absolute http\(s\) URL/],
      [undefined, /absolute http\(s\) URL/],
      ['ftp://files.example.com', /must be an http: or https: URL/],
      ['https://user:secret@gw.example.com', /must not contain credentials/],
      ['https://gw.example.com/?key=1', /must not have a query or fragment/],
      ['https://gw.example.com/#top', /must not have a query or fragment/],
    ];
    for (const [baseURL, message] of cases) {
      expect(make([{ name: 'r', baseURL }])).toThrow(TypeError);
      expect(make([{ name: 'r', baseURL }])).toThrow(message);
    }
    expect(make([{ name: 'r', baseURL: 'http://localhost:8080/proxy/' }])).not.toThrow();
  });

  it('needs weights > 0 and finite priorities', () => {
    for (const weight of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '2']) {
      expect(make([region('a', { weight: weight as number })])).toThrow(
        /region "a": weight must be a finite number > 0/,
      );
    }
    for (const priority of [Number.NaN, Number.NEGATIVE_INFINITY, '1']) {
      expect(make([region('a', { priority: priority as number })])).toThrow(
        /region "a": priority must be a finite number/,
      );
    }
    expect(make([region('a', { weight: 0.5, priority: -3 })])).not.toThrow();
  });

  it('refuses Bedrock runtime hosts and says to use one client per region', () => {
    for (const host of [
      'bedrock-runtime.us-east-1.amazonaws.com',
      'bedrock-runtime-fips.us-west-2.amazonaws.com',
      'vpce-0abc.bedrock-runtime.eu-central-1.vpce.amazonaws.com',
      'bedrock-runtime.cn-north-1.amazonaws.com.cn',
    ]) {
      const build = make([region('ok'), { name: 'br', baseURL: `https://${host}` }]);
      expect(build).toThrow(TypeError);
      expect(build).toThrow(/region "br".*Bedrock.*SigV4.*one Bedrock client per region/s);
    }
    // The Bedrock control plane or look-alike hosts are not refused.
    expect(make([{ name: 'x', baseURL: 'https://bedrock.us-east-1.amazonaws.com' }])).not.toThrow();
    expect(make([{ name: 'x', baseURL: 'https://bedrock-runtime.example.com' }])).not.toThrow();
  });

  it('validates the health options', () => {
    const bad: [unknown, RegExp][] = [
      [{ unhealthyAfter: 0 }, /options\.unhealthyAfter must be a positive integer/],
      [{ unhealthyAfter: 1.5 }, /options\.unhealthyAfter/],
      [{ healthyAfter: 0 }, /options\.healthyAfter must be a positive integer/],
      [{ healthyAfter: Number.NaN }, /options\.healthyAfter/],
      [{ failbackAfterMs: -1 }, /options\.failbackAfterMs must be a finite number ≥ 0/],
      [{ failbackAfterMs: Number.POSITIVE_INFINITY }, /options\.failbackAfterMs/],
      [{ failFast: 'yes' }, /options\.failFast must be a boolean/],
    ];
    for (const [options, message] of bad) expect(make([region('a')], options)).toThrow(message);
    expect(make([region('a')], { unhealthyAfter: 1, healthyAfter: 1, failbackAfterMs: 0 })).not.toThrow();
  });

  it('exposes the regions as frozen copies, in the order given', () => {
    const input = [region('b', { priority: 1 }), region('a', { priority: 0, weight: 2 })];
    const { router } = setup(input);
    expect(router.regions).toEqual(input);
    expect(router.regions[0]).not.toBe(input[0]);
    expect(Object.isFrozen(router.regions)).toBe(true);
    expect(Object.isFrozen(router.regions[0])).toBe(true);
    input[0]!.baseURL = 'https://changed.example.com';
    expect(router.regions[0]?.baseURL).toBe('https://b.example.com');
  });

  it('documents its defaults', () => {
    expect(REGION_HEALTH_DEFAULTS).toEqual({
      unhealthyAfter: 3,
      healthyAfter: 2,
      failbackAfterMs: 30_000,
      failFast: false,
    });
    expect(PROBE_DEFAULTS).toEqual({ intervalMs: 30_000, timeoutMs: 5_000, jitter: 0.2 });
  });

  it('throws for unknown region names', () => {
    const { router } = setup();
    expect(() => router.recordFailure('zz')).toThrow(new TypeError('unknown region "zz"'));
    expect(() => router.recordSuccess('zz')).toThrow(TypeError);
    expect(() => router.health('zz')).toThrow(TypeError);
  });
});

describe('RegionRouter ordering', () => {
  it('defaults to list order and returns the objects of regions', () => {
    const { router } = setup();
    const order = router.order();
    expect(names(order)).toEqual(['a', 'b', 'c']);
    expect(order[0]).toBe(router.regions[0]);
  });

  it('orders by priority, lower first', () => {
    const { router } = setup([
      region('a', { priority: 5 }),
      region('b', { priority: -1 }),
      region('c', { priority: 2 }),
    ]);
    expect(names(router.order())).toEqual(['b', 'c', 'a']);
  });

  it('a default priority is the index in the list', () => {
    const { router } = setup([region('a', { priority: 5 }), region('b'), region('c', { priority: 1.5 })]);
    expect(names(router.order())).toEqual(['b', 'c', 'a']);
  });

  it('calls random only to break ties', () => {
    const random = sequence([0.5]);
    const { router } = setup(
      [region('a'), region('b'), region('c', { priority: 5 }), region('d', { priority: 5 })],
      undefined,
      random,
    );
    router.order();
    // One group of two ({c, d}): one draw.
    expect(random.calls).toBe(1);
    const distinct = sequence([0.5]);
    setup(undefined, undefined, distinct).router.order();
    expect(distinct.calls).toBe(0);
  });

  it('picks among equal priorities by weight', () => {
    const group = [
      region('a', { priority: 0, weight: 1 }),
      region('b', { priority: 0, weight: 3 }),
      region('z', { priority: 9 }),
    ];
    // Total weight 4: [0, 0.25) → a first, [0.25, 1) → b first.
    expect(names(setup(group, undefined, constant(0)).router.order())).toEqual(['a', 'b', 'z']);
    expect(names(setup(group, undefined, constant(0.24)).router.order())).toEqual(['a', 'b', 'z']);
    expect(names(setup(group, undefined, constant(0.25)).router.order())).toEqual(['b', 'a', 'z']);
    expect(names(setup(group, undefined, constant(0.999)).router.order())).toEqual(['b', 'a', 'z']);
    // Out-of-range random values still give a permutation.
    expect(names(setup(group, undefined, constant(1)).router.order())).toEqual(['b', 'a', 'z']);
    expect(names(setup(group, undefined, constant(Number.NaN)).router.order())).toEqual(['b', 'a', 'z']);
  });

  it('shares first choice by weight (seeded, statistical)', () => {
    const { router } = setup(
      [
        region('a', { weight: 1, priority: 0 }),
        region('b', { weight: 2, priority: 0 }),
        region('c', { weight: 7, priority: 0 }),
      ],
      undefined,
      seeded(42),
    );
    const n = 20_000;
    const first = new Map<string, number>();
    const second = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const [x, y] = router.order();
      first.set(x!.name, (first.get(x!.name) ?? 0) + 1);
      second.set(y!.name, (second.get(y!.name) ?? 0) + 1);
    }
    // Standard deviation of a share ≤ sqrt(0.25 / 20000) ≈ 0.0035: ±0.02 is over 5 sigmas.
    expect(Math.abs((first.get('a') ?? 0) / n - 0.1)).toBeLessThan(0.02);
    expect(Math.abs((first.get('b') ?? 0) / n - 0.2)).toBeLessThan(0.02);
    expect(Math.abs((first.get('c') ?? 0) / n - 0.7)).toBeLessThan(0.02);
    // Sampling without replacement: P(a second) = 0.2·1/8 + 0.7·1/3 ≈ 0.258.
    expect(Math.abs((second.get('a') ?? 0) / n - (0.2 / 8 + 0.7 / 3))).toBeLessThan(0.02);
  });

  it('skips excluded regions and ignores unknown names', () => {
    const { router } = setup();
    expect(names(router.order(new Set(['a'])))).toEqual(['b', 'c']);
    expect(names(router.order(new Set(['b', 'nope'])))).toEqual(['a', 'c']);
    expect(router.order(new Set(['a', 'b', 'c']))).toEqual([]);
    fail(router, 'a', 3);
    expect(names(router.order(new Set(['b'])))).toEqual(['c', 'a']);
  });
});

describe('RegionRouter health', () => {
  it('marks a region unhealthy after unhealthyAfter failures in a row (default 3)', () => {
    const { router, changes } = setup();
    fail(router, 'a', 2);
    expect(router.health('a')).toBe('healthy');
    router.recordSuccess('a');
    fail(router, 'a', 2);
    expect(router.health('a')).toBe('healthy');
    expect(changes).toEqual([]);
    router.recordFailure('a');
    expect(router.health('a')).toBe('unhealthy');
    expect(changes).toEqual([['a', 'healthy', 'unhealthy']]);
    fail(router, 'a', 5);
    expect(changes).toHaveLength(1);
    expect(names(router.order())).toEqual(['b', 'c', 'a']);
  });

  it('marks it healthy again after healthyAfter successes in a row (default 2)', () => {
    const { router, changes } = setup();
    fail(router, 'a', 3);
    router.recordSuccess('a');
    expect(router.health('a')).toBe('unhealthy');
    router.recordFailure('a');
    router.recordSuccess('a');
    expect(router.health('a')).toBe('unhealthy');
    router.recordSuccess('a');
    expect(router.health('a')).toBe('healthy');
    expect(changes).toEqual([
      ['a', 'healthy', 'unhealthy'],
      ['a', 'unhealthy', 'healthy'],
    ]);
    succeed(router, 'a', 3);
    expect(changes).toHaveLength(2);
  });

  it('honours custom counts', () => {
    const { router } = setup(undefined, { unhealthyAfter: 1, healthyAfter: 4 });
    router.recordFailure('b');
    expect(router.health('b')).toBe('unhealthy');
    succeed(router, 'b', 3);
    expect(router.health('b')).toBe('unhealthy');
    router.recordSuccess('b');
    expect(router.health('b')).toBe('healthy');
  });

  it('unsubscribes listeners and isolates a throwing one', () => {
    const { router, changes } = setup(undefined, { unhealthyAfter: 1, healthyAfter: 1 });
    const seen: string[] = [];
    const unsubscribe = router.onHealthChange((name) => {
      seen.push(name);
      throw new Error('listener bug');
    });
    const last = vi.fn();
    router.onHealthChange(last);
    expect(() => router.recordFailure('a')).toThrow('listener bug');
    expect(router.health('a')).toBe('unhealthy');
    expect(last).toHaveBeenCalledWith('a', 'healthy', 'unhealthy');
    unsubscribe();
    router.recordSuccess('a');
    expect(seen).toEqual(['a']);
    expect(changes).toHaveLength(2);
  });

  it('offers unhealthy regions last, least bad first', () => {
    const { router, clock } = setup([region('a'), region('b'), region('c'), region('d')]);
    fail(router, 'a', 5);
    clock.advance(10);
    fail(router, 'b', 3);
    clock.advance(10);
    fail(router, 'c', 4);
    expect(names(router.order())).toEqual(['d', 'b', 'c', 'a']);
    fail(router, 'd', 3);
    // b and d both have 3 failures in a row: b failed longer ago.
    expect(names(router.order())).toEqual(['b', 'd', 'c', 'a']);
    // A success (not yet enough to recover) clears the failures in a row: a is now least bad.
    router.recordSuccess('a');
    expect(router.health('a')).toBe('unhealthy');
    expect(names(router.order())).toEqual(['a', 'b', 'd', 'c']);
  });

  it('unhealthy regions equally bad keep their priority order', () => {
    const { router } = setup([region('a', { priority: 2 }), region('b', { priority: 1 })]);
    fail(router, 'a', 3);
    fail(router, 'b', 3);
    expect(names(router.order())).toEqual(['b', 'a']);
  });

  it('failFast leaves unhealthy regions out, down to nothing', () => {
    const { router } = setup(undefined, { failFast: true });
    fail(router, 'b', 3);
    expect(names(router.order())).toEqual(['a', 'c']);
    fail(router, 'a', 3);
    fail(router, 'c', 3);
    expect(router.order()).toEqual([]);
    succeed(router, 'c', 2);
    expect(names(router.order())).toEqual(['c']);
  });
});

describe('RegionRouter failback hysteresis', () => {
  it('fails back to a recovered preferred region only after failbackAfterMs', () => {
    const { router, clock } = setup([region('a'), region('b')]);
    fail(router, 'a', 3);
    expect(names(router.order())).toEqual(['b', 'a']);
    clock.advance(5_000);
    succeed(router, 'a', 2);
    expect(router.health('a')).toBe('healthy');
    // Healthy, but recovered just now: after the serving region b.
    expect(names(router.order())).toEqual(['b', 'a']);
    clock.advance(29_999);
    expect(names(router.order())).toEqual(['b', 'a']);
    clock.advance(1);
    expect(names(router.order())).toEqual(['a', 'b']);
  });

  it('does not flap when the recovered region fails again', () => {
    const { router, clock } = setup([region('a'), region('b')]);
    fail(router, 'a', 3);
    succeed(router, 'a', 2);
    clock.advance(20_000);
    fail(router, 'a', 3);
    expect(names(router.order())).toEqual(['b', 'a']);
    clock.advance(1_000);
    succeed(router, 'a', 2);
    // The wait starts again from the new recovery, not the first one.
    clock.advance(29_999);
    expect(names(router.order())).toEqual(['b', 'a']);
    clock.advance(1);
    expect(names(router.order())).toEqual(['a', 'b']);
    // A failure or two while serving does not move traffic.
    fail(router, 'a', 2);
    expect(names(router.order())).toEqual(['a', 'b']);
  });

  it('a waiting region ranks right after the serving region, before worse ones', () => {
    const { router, clock } = setup([region('a'), region('b'), region('c')]);
    fail(router, 'a', 3);
    succeed(router, 'a', 2);
    expect(names(router.order())).toEqual(['b', 'a', 'c']);
    // With b excluded (say, its breaker is open), c is the serving region.
    expect(names(router.order(new Set(['b'])))).toEqual(['c', 'a']);
    clock.advance(30_000);
    expect(names(router.order())).toEqual(['a', 'b', 'c']);
  });

  it('when everything was down, the region healthy longest serves', () => {
    const { router, clock } = setup([region('a'), region('b')]);
    fail(router, 'a', 3);
    fail(router, 'b', 3);
    succeed(router, 'b', 2);
    expect(names(router.order())).toEqual(['b', 'a']);
    clock.advance(10_000);
    succeed(router, 'a', 2);
    expect(names(router.order())).toEqual(['b', 'a']);
    // b is settled at 30 s; a at 40 s.
    clock.advance(25_000);
    expect(names(router.order())).toEqual(['b', 'a']);
    clock.advance(5_000);
    expect(names(router.order())).toEqual(['a', 'b']);
  });

  it('does not hold back a recovered region of equal priority', () => {
    const { router } = setup(
      [region('a', { priority: 0 }), region('b', { priority: 0 }), region('c', { priority: 1 })],
      undefined,
      constant(0),
    );
    fail(router, 'a', 3);
    succeed(router, 'a', 2);
    expect(names(router.order())).toEqual(['a', 'b', 'c']);
  });

  it('failbackAfterMs 0 fails back at once', () => {
    const { router } = setup([region('a'), region('b')], { failbackAfterMs: 0 });
    fail(router, 'a', 3);
    succeed(router, 'a', 2);
    expect(names(router.order())).toEqual(['a', 'b']);
  });
});

describe('rewriteUrl', () => {
  const api = region('api', { baseURL: 'https://api.anthropic.com' });
  const eu = region('eu', { baseURL: 'https://eu.example.com:8443' });
  const gw = region('gw', { baseURL: 'https://gw.example.com/anthropic' });
  const gw2 = region('gw2', { baseURL: 'http://other.example.com/v2/proxy/' });

  it('replaces the origin of plain bases and keeps path and query', () => {
    const url = new URL('https://api.anthropic.com/v1/messages?beta=true');
    const out = rewriteUrl(url, api, eu);
    expect(out.href).toBe('https://eu.example.com:8443/v1/messages?beta=true');
    expect(out).not.toBe(url);
    expect(url.href).toBe('https://api.anthropic.com/v1/messages?beta=true');
    expect(rewriteUrl(url, undefined, eu).href).toBe('https://eu.example.com:8443/v1/messages?beta=true');
  });

  it('re-roots the path under a gateway base path', () => {
    const url = new URL('https://api.anthropic.com/v1/messages/count_tokens?x=1&y=2');
    expect(rewriteUrl(url, api, gw).href).toBe(
      'https://gw.example.com/anthropic/v1/messages/count_tokens?x=1&y=2',
    );
    expect(rewriteUrl(url, undefined, gw2).href).toBe(
      'http://other.example.com/v2/proxy/v1/messages/count_tokens?x=1&y=2',
    );
  });

  it('strips the base path of the region the URL was built for', () => {
    const url = new URL('https://gw.example.com/anthropic/v1/messages?stream=1');
    expect(rewriteUrl(url, gw, api).href).toBe('https://api.anthropic.com/v1/messages?stream=1');
    expect(rewriteUrl(url, gw, gw2).href).toBe('http://other.example.com/v2/proxy/v1/messages?stream=1');
    // Back again: a round trip is the identity.
    expect(rewriteUrl(rewriteUrl(url, gw, gw2), gw2, gw).href).toBe(url.href);
    // Only at a segment boundary, and only when the path starts with it.
    const lookalike = new URL('https://gw.example.com/anthropics/v1/messages');
    expect(rewriteUrl(lookalike, gw, api).href).toBe('https://api.anthropic.com/anthropics/v1/messages');
    expect(rewriteUrl(new URL('https://gw.example.com/anthropic'), gw, api).href).toBe(
      'https://api.anthropic.com/',
    );
  });

  describe('Vertex AI', () => {
    const east = region('us-east5', { baseURL: 'https://us-east5-aiplatform.googleapis.com/v1' });
    const europe = region('europe-west1', { baseURL: 'https://europe-west1-aiplatform.googleapis.com/v1' });
    const global = region('global', { baseURL: 'https://aiplatform.googleapis.com/v1' });
    const model = 'publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict';
    const at = (host: string, location: string, query = '') =>
      `https://${host}/v1/projects/my-proj/locations/${location}/${model}${query}`;

    it('regional to regional rewrites host and location', () => {
      const url = new URL(at('us-east5-aiplatform.googleapis.com', 'us-east5', '?alt=sse'));
      expect(rewriteUrl(url, east, europe).href).toBe(
        at('europe-west1-aiplatform.googleapis.com', 'europe-west1', '?alt=sse'),
      );
    });

    it('regional to global and back', () => {
      const url = new URL(at('us-east5-aiplatform.googleapis.com', 'us-east5'));
      const toGlobal = rewriteUrl(url, east, global);
      expect(toGlobal.href).toBe(at('aiplatform.googleapis.com', 'global'));
      expect(rewriteUrl(toGlobal, global, europe).href).toBe(
        at('europe-west1-aiplatform.googleapis.com', 'europe-west1'),
      );
    });

    it('works with bare Vertex origins too', () => {
      const bareEast = region('e', { baseURL: 'https://us-east5-aiplatform.googleapis.com' });
      const bareGlobal = region('g', { baseURL: 'https://aiplatform.googleapis.com/' });
      const url = new URL(at('us-east5-aiplatform.googleapis.com', 'us-east5'));
      expect(rewriteUrl(url, undefined, bareGlobal).href).toBe(at('aiplatform.googleapis.com', 'global'));
      expect(rewriteUrl(url, bareEast, bareGlobal).href).toBe(at('aiplatform.googleapis.com', 'global'));
    });

    it('leaves the location alone for a non-Vertex target or source', () => {
      const url = new URL(at('us-east5-aiplatform.googleapis.com', 'us-east5'));
      expect(rewriteUrl(url, east, gw).href).toBe(
        `https://gw.example.com/anthropic/projects/my-proj/locations/us-east5/${model}`,
      );
      const viaGateway = new URL(
        `https://gw.example.com/anthropic/projects/my-proj/locations/us-east5/${model}`,
      );
      expect(rewriteUrl(viaGateway, gw, europe).href).toBe(
        at('europe-west1-aiplatform.googleapis.com', 'us-east5'),
      );
    });
  });

  it('refuses Bedrock runtime URLs and targets', () => {
    const bedrock = { name: 'br', baseURL: 'https://bedrock-runtime.us-east-1.amazonaws.com' };
    const url = new URL('https://bedrock-runtime.us-west-2.amazonaws.com/model/m/invoke');
    expect(() => rewriteUrl(url, undefined, api)).toThrow(/SigV4.*one Bedrock client per region/s);
    expect(() => rewriteUrl(new URL('https://api.anthropic.com/v1/messages'), api, bedrock)).toThrow(
      TypeError,
    );
  });
});

describe('RegionProber', () => {
  function proberSetup(
    probe: (region: RegionConfig, signal: AbortSignal) => Promise<boolean>,
    options: ProbeOptions = { intervalMs: 1_000, timeoutMs: 100 },
    health: RegionHealthOptions = { unhealthyAfter: 1, healthyAfter: 1 },
    random: Random = constant(0.5),
  ) {
    const clock = new FakeClock();
    const { router, changes } = setup([region('a'), region('b')], health, constant(0), clock);
    const spy = vi.fn(probe);
    const prober = new RegionProber(router, spy, options, clock, random);
    return { clock, router, changes, probe: spy, prober };
  }

  it('validates its options', () => {
    const { router, clock } = setup();
    const ok = async () => true;
    for (const [options, message] of [
      [{ intervalMs: 0 }, /options\.intervalMs must be a finite number > 0/],
      [{ intervalMs: Number.POSITIVE_INFINITY }, /options\.intervalMs/],
      [{ timeoutMs: -5 }, /options\.timeoutMs must be a finite number > 0/],
      [{ jitter: -0.1 }, /options\.jitter must be a number in \[0, 1\)/],
      [{ jitter: 1 }, /options\.jitter/],
      [{ jitter: 1.5 }, /options\.jitter/],
      [{ jitter: Number.NaN }, /options\.jitter/],
    ] as const) {
      expect(() => new RegionProber(router, ok, options, clock, constant(0))).toThrow(message);
    }
    expect(() => new RegionProber(router, ok, undefined, clock, constant(0))).not.toThrow();
  });

  it('does nothing until started; default interval 30 s ± 20 %', () => {
    const clock = new FakeClock();
    const { router } = setup(undefined, undefined, constant(0), clock);
    const prober = new RegionProber(router, async () => true, undefined, clock, constant(0));
    expect(clock.pending).toBe(0);
    prober.start();
    expect(clock.nextDue()).toBe(24_000);
    prober.stop();
    expect(clock.pending).toBe(0);
  });

  it('probes every region at each interval and records the outcomes', async () => {
    const healthy = new Map([
      ['a', true],
      ['b', false],
    ]);
    const { clock, router, probe, prober, changes } = proberSetup(async (r) => healthy.get(r.name) ?? false);
    prober.start();
    expect(clock.nextDue()).toBe(1_000);
    await clock.advanceAsync(999);
    expect(probe).not.toHaveBeenCalled();
    await clock.advanceAsync(1);
    expect(probe.mock.calls.map(([r]) => r.name)).toEqual(['a', 'b']);
    expect(router.health('a')).toBe('healthy');
    expect(router.health('b')).toBe('unhealthy');
    healthy.set('b', true);
    await clock.advanceAsync(1_000);
    expect(probe).toHaveBeenCalledTimes(4);
    expect(router.health('b')).toBe('healthy');
    expect(changes).toEqual([
      ['b', 'healthy', 'unhealthy'],
      ['b', 'unhealthy', 'healthy'],
    ]);
    prober.stop();
  });

  it('jitters each wait within ± jitter of the interval', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (draws, jitter) => {
          const clock = new FakeClock();
          const { router } = setup(undefined, undefined, constant(0), clock);
          const random = sequence(draws);
          const prober = new RegionProber(
            router,
            async () => true,
            // A long timeout keeps the probes' timers out of the way of `nextDue()`.
            { intervalMs: 1_000, timeoutMs: 1e9, jitter },
            clock,
            random,
          );
          prober.start();
          for (let round = 0; round < draws.length; round++) {
            const wait = (clock.nextDue() ?? Number.NaN) - clock.now();
            expect(wait).toBeGreaterThanOrEqual(1_000 * (1 - jitter) - 1e-9);
            expect(wait).toBeLessThanOrEqual(1_000 * (1 + jitter) + 1e-9);
            clock.advance(wait);
          }
          prober.stop();
        },
      ),
      { numRuns: 200 },
    );
    // The extremes of the random source map to the extremes of the window.
    for (const [r, due] of [
      [0, 800],
      [0.5, 1_000],
      [0.75, 1_100],
    ] as const) {
      const clock = new FakeClock();
      const prober = new RegionProber(
        setup(undefined, undefined, constant(0), clock).router,
        async () => true,
        { intervalMs: 1_000 },
        clock,
        constant(r),
      );
      prober.start();
      expect(clock.nextDue()).toBe(due);
      prober.stop();
    }
  });

  it('treats a random value out of [0, 1] as the middle of the window', () => {
    for (const r of [Number.NaN, 2, -1]) {
      const clock = new FakeClock();
      const prober = new RegionProber(
        setup(undefined, undefined, constant(0), clock).router,
        async () => true,
        { intervalMs: 1_000, jitter: 0.5 },
        clock,
        constant(r),
      );
      prober.start();
      expect(clock.nextDue()).toBe(1_000);
      prober.stop();
    }
  });

  it('counts a timeout as a failure and aborts the probe', async () => {
    const signals: AbortSignal[] = [];
    const { clock, router, prober } = proberSetup(
      (_r, signal) =>
        new Promise<boolean>((resolve) => {
          signals.push(signal);
          // Resolves true if not aborted first, much later than the timeout.
          void clock.sleep(5_000).then(() => resolve(true));
        }),
    );
    prober.start();
    await clock.advanceAsync(1_000);
    expect(signals).toHaveLength(2);
    expect(router.health('a')).toBe('healthy');
    await clock.advanceAsync(100);
    expect(signals.every((s) => s.aborted)).toBe(true);
    expect((signals[0]?.reason as DOMException | undefined)?.name).toBe('TimeoutError');
    expect(router.health('a')).toBe('unhealthy');
    expect(router.health('b')).toBe('unhealthy');
    // The late `true` is not recorded.
    await clock.advanceAsync(4_000);
    expect(router.health('a')).toBe('unhealthy');
    prober.stop();
  });

  it('counts rejections, synchronous throws and non-true results as failures', async () => {
    const results: (() => Promise<boolean>)[] = [
      () => Promise.reject(new Error('connection refused')),
      () => {
        throw new Error('sync bug');
      },
    ];
    const { clock, router, prober } = proberSetup(async (r) =>
      r.name === 'a' ? results[0]!() : results[1]!(),
    );
    prober.start();
    await clock.advanceAsync(1_000);
    expect(router.health('a')).toBe('unhealthy');
    expect(router.health('b')).toBe('unhealthy');
    prober.stop();

    const sync = proberSetup(((r: RegionConfig) => {
      if (r.name === 'a') throw new Error('thrown before any promise');
      return Promise.resolve('yes' as unknown as boolean);
    }) as (r: RegionConfig) => Promise<boolean>);
    sync.prober.start();
    await sync.clock.advanceAsync(1_000);
    expect(sync.router.health('a')).toBe('unhealthy');
    expect(sync.router.health('b')).toBe('unhealthy');
    sync.prober.stop();
  });

  it('does not probe a region twice while its probe is out', async () => {
    const { clock, probe, prober } = proberSetup(
      (_r, signal) =>
        new Promise<boolean>((resolve) => {
          signal.addEventListener('abort', () => resolve(false));
        }),
      { intervalMs: 1_000, timeoutMs: 2_500, jitter: 0 },
    );
    prober.start();
    await clock.advanceAsync(1_000);
    expect(probe).toHaveBeenCalledTimes(2);
    await clock.advanceAsync(2_000);
    expect(probe).toHaveBeenCalledTimes(2);
    // Timed out at 3.5 s; probed again at the round of 4 s.
    await clock.advanceAsync(1_000);
    expect(probe).toHaveBeenCalledTimes(4);
    prober.stop();
  });

  it('stop() cancels the next round, aborts the probes out and drops their outcomes', async () => {
    const signals: AbortSignal[] = [];
    const resolvers: ((ok: boolean) => void)[] = [];
    const { clock, router, probe, prober, changes } = proberSetup(
      (_r, signal) =>
        new Promise<boolean>((resolve) => {
          signals.push(signal);
          resolvers.push(resolve);
        }),
      { intervalMs: 1_000, timeoutMs: 500 },
    );
    prober.start();
    prober.start(); // idempotent
    await clock.advanceAsync(1_000);
    expect(probe).toHaveBeenCalledTimes(2);
    prober.stop();
    expect(clock.pending).toBe(0);
    expect(signals.every((s) => s.aborted && (s.reason as DOMException).name === 'AbortError')).toBe(true);
    for (const resolve of resolvers) resolve(false);
    await clock.advanceAsync(10_000);
    expect(probe).toHaveBeenCalledTimes(2);
    expect(router.health('a')).toBe('healthy');
    expect(changes).toEqual([]);
    prober.stop(); // idempotent
    // It can start again.
    prober.start();
    await clock.advanceAsync(1_000);
    expect(probe).toHaveBeenCalledTimes(4);
    prober.stop();
  });

  it('a throwing health listener does not stop the probing', async () => {
    const { clock, router, probe, prober } = proberSetup(async () => false);
    router.onHealthChange(() => {
      throw new Error('listener bug');
    });
    prober.start();
    await clock.advanceAsync(1_000);
    expect(router.health('a')).toBe('unhealthy');
    await clock.advanceAsync(1_000);
    expect(probe).toHaveBeenCalledTimes(4);
    prober.stop();
  });
});

describe('RegionRouter properties', () => {
  type Op = { kind: 'success' | 'failure'; region: number } | { kind: 'advance'; ms: number };

  const configs = fc
    .array(
      fc.record({
        priority: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
        weight: fc.option(fc.double({ min: 0.01, max: 10, noNaN: true }), { nil: undefined }),
      }),
      { minLength: 1, maxLength: 6 },
    )
    .map((list) =>
      list.map(({ priority, weight }, i): RegionConfig => {
        const config: RegionConfig = { name: `r${i}`, baseURL: `https://r${i}.example.com` };
        if (priority !== undefined) config.priority = priority;
        if (weight !== undefined) config.weight = weight;
        return config;
      }),
    );
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constantFrom('success' as const, 'failure' as const), region: fc.nat({ max: 5 }) }),
    fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
  );
  const healthOptions = fc.record({
    unhealthyAfter: fc.integer({ min: 1, max: 4 }),
    healthyAfter: fc.integer({ min: 1, max: 4 }),
    failbackAfterMs: fc.integer({ min: 0, max: 60_000 }),
    failFast: fc.boolean(),
  });

  function run(
    regions: RegionConfig[],
    options: RegionHealthOptions,
    ops: Op[],
    seed: number,
    check: (router: RegionRouter) => void,
  ): void {
    const { router, clock } = setup(regions, options, seeded(seed));
    check(router);
    for (const o of ops) {
      if (o.kind === 'advance') clock.advance(o.ms);
      else {
        const name = regions[o.region % regions.length]!.name;
        if (o.kind === 'success') router.recordSuccess(name);
        else router.recordFailure(name);
      }
      check(router);
    }
  }

  it('order() is a permutation of the regions not excluded (without failFast)', () => {
    fc.assert(
      fc.property(
        configs,
        healthOptions,
        fc.array(op, { maxLength: 40 }),
        fc.array(fc.nat({ max: 7 }), { maxLength: 4 }),
        fc.integer(),
        (regions, options, ops, excluded, seed) => {
          const exclude = new Set(excluded.map((i) => `r${i}`));
          const expected = regions.map((r) => r.name).filter((n) => !exclude.has(n));
          run(regions, { ...options, failFast: false }, ops, seed, (router) => {
            const order = names(router.order(exclude));
            expect([...order].sort()).toEqual([...expected].sort());
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never puts an unhealthy region before a healthy one; failFast offers only healthy ones', () => {
    fc.assert(
      fc.property(
        configs,
        healthOptions,
        fc.array(op, { maxLength: 40 }),
        fc.integer(),
        (regions, options, ops, seed) => {
          run(regions, options, ops, seed, (router) => {
            const health = router.order().map((r) => router.health(r.name));
            const firstUnhealthy = health.indexOf('unhealthy');
            if (firstUnhealthy >= 0) expect(health.slice(firstUnhealthy)).not.toContain('healthy');
            if (options.failFast) {
              expect(health).not.toContain('unhealthy');
              expect(health).toHaveLength(regions.filter((r) => router.health(r.name) === 'healthy').length);
            }
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('health flips only after the configured counts of outcomes in a row', () => {
    fc.assert(
      fc.property(
        healthOptions,
        fc.array(fc.boolean(), { maxLength: 60 }),
        ({ unhealthyAfter, healthyAfter }, outcomes) => {
          const { router, changes } = setup([region('x')], { unhealthyAfter, healthyAfter });
          const history: boolean[] = [];
          let expected: RegionHealth = 'healthy';
          for (const ok of outcomes) {
            history.push(ok);
            const before = changes.length;
            if (ok) router.recordSuccess('x');
            else router.recordFailure('x');
            // The run of equal outcomes ending here.
            let run = 0;
            for (let i = history.length - 1; i >= 0 && history[i] === ok; i--) run++;
            if (expected === 'healthy' && !ok && run >= unhealthyAfter) expected = 'unhealthy';
            else if (expected === 'unhealthy' && ok && run >= healthyAfter) expected = 'healthy';
            expect(router.health('x')).toBe(expected);
            if (changes.length > before) {
              // A flip happens exactly when the run reaches the count.
              expect(changes).toHaveLength(before + 1);
              expect(run).toBe(ok ? healthyAfter : unhealthyAfter);
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
