import { describe, expect, it } from 'vitest';
import {
  BUILT_IN_SCENARIOS,
  createFaultPicker,
  loadScenario,
  parseScenario,
  ScenarioError,
  validateScenario,
} from '../../src/cli/scenario.js';

function errorOf(fn: () => unknown): ScenarioError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ScenarioError);
    return error as ScenarioError;
  }
  throw new Error('expected a ScenarioError');
}

describe('scenario files', () => {
  it('every shipped scenario loads and validates', async () => {
    for (const name of BUILT_IN_SCENARIOS) {
      const scenario = await loadScenario(name);
      expect(scenario.name).toBe(name);
      expect(scenario.faults.length).toBeGreaterThan(0);
    }
  });

  it('YAML and JSON give the same scenario, with defaults filled in', () => {
    const yaml = parseScenario(
      'name: s\nfaults:\n  - rate: 0.5\n    fault: { status: 529, headers: { retry-after: 2 } }\n',
      's.yaml',
    );
    const json = parseScenario(
      JSON.stringify({
        name: 's',
        faults: [{ rate: 0.5, fault: { status: 529, headers: { 'retry-after': 2 } } }],
      }),
      's.json',
    );
    expect(json).toEqual(yaml);
    expect(yaml).toEqual({
      name: 's',
      description: '',
      duration: 30,
      seed: undefined,
      faults: [
        {
          rate: 0.5,
          from: 0,
          until: Number.POSITIVE_INFINITY,
          region: undefined,
          match: {},
          fault: { status: 529, headers: { 'retry-after': '2' } },
        },
      ],
    });
  });

  it.each([
    [{ faults: 'x' }, 'faults', /must be a list/],
    [{ fault: [] }, 'fault', /not a known field/],
    [{ faults: [{ rate: 2, fault: { status: 529 } }] }, 'faults[0].rate', /≤ 1/],
    [{ faults: [{ rate: 'often', fault: { status: 529 } }] }, 'faults[0].rate', /must be a number/],
    [{ faults: [{ rate: 0.1 }] }, 'faults[0].fault', /is required/],
    [{ faults: [{ fault: {} }] }, 'faults[0].fault', /at least one of/],
    [{ faults: [{ fault: { status: 99 } }] }, 'faults[0].fault.status', /≥ 100/],
    [{ faults: [{ fault: { status: 529, colour: 'red' } }] }, 'faults[0].fault.colour', /not a known field/],
    [{ faults: [{ fault: { stall: { afterEvents: 2 } } }] }, 'faults[0].fault.stall.ms', /is required/],
    [
      { faults: [{ fault: { stall: { afterEvents: -1, ms: 5 } } }] },
      'faults[0].fault.stall.afterEvents',
      /≥ 0/,
    ],
    [
      { faults: [{ fault: { drop: { at: 'middle' } } }] },
      'faults[0].fault.drop.at',
      /boundary, mid-event, mid-utf8/,
    ],
    [{ faults: [{ fault: { body: 'xml' } }] }, 'faults[0].fault.body', /must be one of/],
    [
      { faults: [{ fault: { headers: { 'retry after': '1' } } }] },
      'faults[0].fault.headers.retry after',
      /header name/,
    ],
    [
      { faults: [{ fault: { headers: { 'retry-after': true } } }] },
      'faults[0].fault.headers.retry-after',
      /string or a number/,
    ],
    [{ faults: [{ from: 10, until: 5, fault: { status: 529 } }] }, 'faults[0].until', /greater than from/],
    [
      { faults: [{ match: { stream: 'yes' }, fault: { status: 529 } }] },
      'faults[0].match.stream',
      /true or false/,
    ],
    [
      { faults: [{ match: { path: 'v1/messages' }, fault: { status: 529 } }] },
      'faults[0].match.path',
      /start with \//,
    ],
    [{ faults: [{ status: 529 }, { fault: { status: 529 } }] }, 'faults[0].status', /not a known field/],
    [{ faults: [], duration: 0 }, 'duration', /≥ 0.1/],
  ])('%j: the error names %s', (document, field, problem) => {
    const error = errorOf(() => validateScenario(document, 'x', 'x.yaml'));
    expect(error.field).toBe(field);
    expect(error.message).toMatch(problem);
    expect(error.message.startsWith(`x.yaml: ${field} `)).toBe(true);
  });

  it.each([
    [{ faultz: [] }, 'faultz', 'faults'],
    [{ faults: [{ rat: 0.5, fault: { status: 529 } }] }, 'faults[0].rat', 'faults[0].rate'],
    [{ faults: [{ fault: { stauts: 529 } }] }, 'faults[0].fault.stauts', 'faults[0].fault.status'],
  ])('%j: an unknown field names the closest known one', (document, field, suggestion) => {
    const error = errorOf(() => validateScenario(document, 'x', 'x.yaml'));
    expect(error.path).toBe(field);
    expect(error.suggestion).toBe(suggestion);
    expect(error.message).toContain(`${field} is not a known field; did you mean ${suggestion}?`);
  });

  it('unparseable text and missing files are ScenarioErrors too', async () => {
    expect(errorOf(() => parseScenario('faults: [', 'bad.yaml')).message).toMatch(
      /bad.yaml: is not valid YAML/,
    );
    expect(errorOf(() => parseScenario('{"faults": ', 'bad.json')).message).toMatch(/is not valid JSON/);
    await expect(loadScenario('/nonexistent/file.yaml')).rejects.toThrow(/cannot be read: ENOENT/);
    await expect(loadScenario('no-such-scenario')).rejects.toBeInstanceOf(ScenarioError);
  });
});

describe('fault picker', () => {
  const scenario = validateScenario({
    faults: [
      { rate: 0.2, match: { path: '/v1/messages' }, fault: { status: 529 } },
      { rate: 0.1, match: { path: '/v1/messages', stream: true }, fault: { drop: { afterEvents: 2 } } },
      { region: 'primary', from: 10, until: 20, fault: { status: 503 } },
    ],
  });
  const post = { method: 'POST', path: '/v1/messages', stream: false, model: 'm' };

  it('each rule fires at its rate, reproducibly with a seed', () => {
    const draw = (seed: number, stream: boolean): Array<number | undefined> => {
      const pick = createFaultPicker(scenario, { seed, region: 'primary', elapsedS: () => 0 });
      return Array.from({ length: 4000 }, () => pick({ ...post, stream })?.rule);
    };
    const plain = draw(3, false);
    expect(draw(3, false)).toEqual(plain);
    expect(draw(4, false)).not.toEqual(plain);
    const share = (xs: Array<number | undefined>, rule: number): number =>
      xs.filter((x) => x === rule).length / xs.length;
    // Binomial(4000, p): 5 standard deviations are well under 0.035.
    expect(Math.abs(share(plain, 0) - 0.2)).toBeLessThan(0.035);
    expect(share(plain, 1)).toBe(0);
    const streamed = draw(3, true);
    expect(Math.abs(share(streamed, 0) - 0.2)).toBeLessThan(0.035);
    expect(Math.abs(share(streamed, 1) - 0.1)).toBeLessThan(0.03);
  });

  it('time windows and regions select the rules', () => {
    let t = 0;
    const primary = createFaultPicker(scenario, { seed: 1, region: 'primary', elapsedS: () => t });
    const secondary = createFaultPicker(scenario, { seed: 1, region: 'secondary', elapsedS: () => t });
    const models = { method: 'GET', path: '/v1/models', stream: false, model: undefined };
    expect(primary(models)).toBeUndefined();
    t = 10;
    expect(primary(models)?.rule).toBe(2);
    expect(secondary(models)).toBeUndefined();
    t = 20;
    expect(primary(models)).toBeUndefined();
  });
});
