/**
 * Scenario files: which faults the fake API (the demo's regions, `chaos` standalone) or the chaos
 * proxy injects, at what rates, when, and into which requests. JSON or YAML, validated with errors
 * that name the bad field.
 *
 * ```yaml
 * name: flaky
 * description: 5 % overloads, some rate limits, broken streams
 * duration: 30            # seconds; the demo's default run length (its timeline scales with --duration)
 * faults:
 *   - rate: 0.05          # probability per matching request (default 1)
 *     fault: { status: 529 }
 *   - rate: 0.03
 *     fault: { status: 429, headers: { retry-after: "1" } }
 *   - rate: 0.1
 *     match: { stream: true }
 *     fault: { drop: { afterEvents: 6, at: mid-event } }
 *   - region: primary     # only that region (demo regions: primary, secondary; chaos: --region)
 *     from: 10            # seconds since the start …
 *     until: 18           # … until then (default: forever)
 *     fault: { status: 503, body: html }
 * ```
 *
 * Per request, one uniform draw picks at most one rule: the active rules that match the request
 * take the interval [0, 1) in order, each its `rate` wide, so each rule's rate is its own
 * probability (while rates add up to more than 1 the earlier rules win).
 */

import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type ClaudeOtelOptionsError, closest } from '../config.js';
import { hashSeed, mulberry32, type Rng } from '../testing/rng.js';
import type { Fault } from '../testing/types.js';

/** Which requests a rule applies to; every field given must match. */
export interface RuleMatch {
  /** Request path without the query, e.g. `/v1/messages`. */
  path?: string;
  /** HTTP method, e.g. `POST`. */
  method?: string;
  /** `true`: streamed requests only; `false`: non-streamed only. */
  stream?: boolean;
  /** The request body's `model`. */
  model?: string;
}

/** One rule: a fault, its rate, and when and where it applies. */
export interface FaultRule {
  /** Probability per matching request, 0 … 1. Default 1. */
  rate: number;
  /** Seconds since the start from which the rule is active. Default 0. */
  from: number;
  /** Seconds since the start until which the rule is active. Default: forever. */
  until: number;
  /** Only this region (demo: `primary` or `secondary`; chaos: its `--region`). Default: every region. */
  region: string | undefined;
  match: RuleMatch;
  /** What happens to the request: the fake API's {@link Fault} fields. */
  fault: Fault;
}

/** A validated scenario. */
export interface Scenario {
  name: string;
  description: string;
  /** The demo's default run length, seconds. Default 30. */
  duration: number;
  /** Seed of the fault draws. Default: the command's `--seed`. */
  seed: number | undefined;
  faults: FaultRule[];
}

/** A scenario file or object that does not validate: `field` names the bad field (`faults[2].rate`). */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
  constructor(
    readonly field: string,
    readonly problem: string,
    readonly source?: string,
    /** For an unknown field: the closest known one (the same rule as the library's options check). */
    readonly suggestion?: string,
  ) {
    super(`${source !== undefined ? `${source}: ` : ''}${field === '' ? '' : `${field} `}${problem}`);
  }

  /** The field's path, as {@link ClaudeOtelOptionsError.path} names an option's. */
  get path(): string {
    return this.field;
  }
}

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const show = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
};

/** Field-by-field reader that throws {@link ScenarioError} with the field's path. */
class Reader {
  constructor(
    readonly path: string,
    readonly value: Json,
  ) {}

  static of(path: string, value: unknown): Reader {
    if (!isRecord(value)) throw new ScenarioError(path, `must be an object, got ${show(value)}`);
    return new Reader(path, value);
  }

  at(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  only(keys: readonly string[]): void {
    for (const key of Object.keys(this.value)) {
      if (!keys.includes(key)) {
        const close = closest(key, keys);
        const suggestion = close === undefined ? undefined : this.at(close);
        const hint = suggestion === undefined ? '' : `; did you mean ${suggestion}?`;
        throw new ScenarioError(
          this.at(key),
          `is not a known field${hint} (expected one of: ${keys.join(', ')})`,
          undefined,
          suggestion,
        );
      }
    }
  }

  number(key: string, opts: { min?: number; max?: number; integer?: boolean } = {}): number | undefined {
    const value = this.value[key];
    if (value === undefined || value === null) return undefined;
    const what = opts.integer ? 'an integer' : 'a number';
    if (typeof value !== 'number' || !Number.isFinite(value) || (opts.integer && !Number.isInteger(value))) {
      throw new ScenarioError(this.at(key), `must be ${what}, got ${show(value)}`);
    }
    if (opts.min !== undefined && value < opts.min) {
      throw new ScenarioError(this.at(key), `must be ≥ ${opts.min}, got ${value}`);
    }
    if (opts.max !== undefined && value > opts.max) {
      throw new ScenarioError(this.at(key), `must be ≤ ${opts.max}, got ${value}`);
    }
    return value;
  }

  string(key: string): string | undefined {
    const value = this.value[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || value === '') {
      throw new ScenarioError(this.at(key), `must be a non-empty string, got ${show(value)}`);
    }
    return value;
  }

  boolean(key: string): boolean | undefined {
    const value = this.value[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean')
      throw new ScenarioError(this.at(key), `must be true or false, got ${show(value)}`);
    return value;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(value)) {
      throw new ScenarioError(this.at(key), `must be one of ${allowed.join(', ')}, got ${show(value)}`);
    }
    return value as T;
  }

  object(key: string): Reader | undefined {
    const value = this.value[key];
    if (value === undefined || value === null) return undefined;
    return Reader.of(this.at(key), value);
  }
}

const FAULT_KEYS = [
  'status',
  'errorType',
  'message',
  'body',
  'headers',
  'delayHeadersMs',
  'delayFirstEventMs',
  'stall',
  'drop',
  'sseError',
] as const;

function readFault(r: Reader): Fault {
  r.only(FAULT_KEYS);
  const fault: Fault = {};
  const status = r.number('status', { min: 100, max: 599, integer: true });
  if (status !== undefined) fault.status = status;
  const errorType = r.string('errorType');
  if (errorType !== undefined) fault.errorType = errorType;
  const message = r.string('message');
  if (message !== undefined) fault.message = message;
  const body = r.oneOf('body', ['json', 'html', 'empty', 'truncated-json'] as const);
  if (body !== undefined) fault.body = body;
  const headers = r.object('headers');
  if (headers !== undefined) {
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers.value)) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
        throw new ScenarioError(headers.at(name), 'is not a valid header name');
      }
      if (typeof value === 'number' && Number.isFinite(value)) out[name.toLowerCase()] = String(value);
      else if (typeof value === 'string' && !/[\r\n]/.test(value)) out[name.toLowerCase()] = value;
      else throw new ScenarioError(headers.at(name), `must be a string or a number, got ${show(value)}`);
    }
    fault.headers = out;
  }
  const delayHeadersMs = r.number('delayHeadersMs', { min: 0 });
  if (delayHeadersMs !== undefined) fault.delayHeadersMs = delayHeadersMs;
  const delayFirstEventMs = r.number('delayFirstEventMs', { min: 0 });
  if (delayFirstEventMs !== undefined) fault.delayFirstEventMs = delayFirstEventMs;
  const stall = r.object('stall');
  if (stall !== undefined) {
    stall.only(['afterEvents', 'ms']);
    fault.stall = {
      afterEvents: stall.number('afterEvents', { min: 0, integer: true }) ?? 0,
      ms: required(stall, 'ms', stall.number('ms', { min: 0 })),
    };
  }
  const drop = r.object('drop');
  if (drop !== undefined) {
    drop.only(['afterEvents', 'at']);
    const at = drop.oneOf('at', ['boundary', 'mid-event', 'mid-utf8'] as const);
    fault.drop = {
      afterEvents: drop.number('afterEvents', { min: 0, integer: true }) ?? 0,
      ...(at ? { at } : {}),
    };
  }
  const sseError = r.object('sseError');
  if (sseError !== undefined) {
    sseError.only(['afterEvents', 'errorType', 'message']);
    const type = sseError.string('errorType');
    const msg = sseError.string('message');
    fault.sseError = {
      afterEvents: sseError.number('afterEvents', { min: 0, integer: true }) ?? 0,
      ...(type !== undefined ? { errorType: type } : {}),
      ...(msg !== undefined ? { message: msg } : {}),
    };
  }
  if (Object.keys(fault).length === 0) {
    throw new ScenarioError(r.path, `must set at least one of: ${FAULT_KEYS.join(', ')}`);
  }
  return fault;
}

function required<T>(r: Reader, key: string, value: T | undefined): T {
  if (value === undefined) throw new ScenarioError(r.at(key), 'is required');
  return value;
}

function readRule(r: Reader): FaultRule {
  r.only(['rate', 'from', 'until', 'region', 'match', 'fault']);
  const from = r.number('from', { min: 0 }) ?? 0;
  const until = r.number('until', { min: 0 }) ?? Number.POSITIVE_INFINITY;
  if (until <= from)
    throw new ScenarioError(r.at('until'), `must be greater than from (${from}), got ${until}`);
  const match: RuleMatch = {};
  const m = r.object('match');
  if (m !== undefined) {
    m.only(['path', 'method', 'stream', 'model']);
    const path = m.string('path');
    if (path !== undefined) {
      if (!path.startsWith('/'))
        throw new ScenarioError(m.at('path'), `must start with /, got ${show(path)}`);
      match.path = path;
    }
    const method = m.string('method');
    if (method !== undefined) match.method = method.toUpperCase();
    const stream = m.boolean('stream');
    if (stream !== undefined) match.stream = stream;
    const model = m.string('model');
    if (model !== undefined) match.model = model;
  }
  const faultReader = r.object('fault');
  if (faultReader === undefined) throw new ScenarioError(r.at('fault'), 'is required');
  return {
    rate: r.number('rate', { min: 0, max: 1 }) ?? 1,
    from,
    until,
    region: r.string('region'),
    match,
    fault: readFault(faultReader),
  };
}

/**
 * Validates a parsed scenario (the JSON or YAML document).
 *
 * @param fallbackName the name when the document has none (e.g. the file name).
 * @throws ScenarioError naming the first bad field.
 */
export function validateScenario(document: unknown, fallbackName = 'scenario', source?: string): Scenario {
  try {
    const r = Reader.of('', document);
    r.only(['name', 'description', 'duration', 'seed', 'faults']);
    const faultsValue = r.value.faults;
    if (!Array.isArray(faultsValue)) {
      throw new ScenarioError('faults', `must be a list of rules, got ${show(faultsValue)}`);
    }
    return {
      name: r.string('name') ?? fallbackName,
      description: r.string('description') ?? '',
      duration: r.number('duration', { min: 0.1 }) ?? 30,
      seed: r.number('seed', { integer: true }),
      faults: faultsValue.map((rule, i) => readRule(Reader.of(`faults[${i}]`, rule))),
    };
  } catch (error) {
    if (error instanceof ScenarioError && source !== undefined && error.source === undefined) {
      throw new ScenarioError(error.field, error.problem, source, error.suggestion);
    }
    throw error;
  }
}

/** Parses scenario text: JSON when the name ends in `.json` or the text starts with `{`, else YAML. */
export function parseScenario(text: string, source = 'scenario'): Scenario {
  const base = source.replace(/^.*[\\/]/, '').replace(/\.(ya?ml|json)$/i, '');
  let document: unknown;
  const json = extname(source).toLowerCase() === '.json' || text.trimStart().startsWith('{');
  try {
    document = json ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ScenarioError('', `is not valid ${json ? 'JSON' : 'YAML'}: ${message}`, source);
  }
  return validateScenario(document, base, source);
}

/** The folder of the scenarios shipped with the package (`scenarios/`). */
export const SCENARIOS_DIR = new URL('../../scenarios/', import.meta.url);

/** Names of the shipped scenarios (files in `scenarios/` without the extension). */
export const BUILT_IN_SCENARIOS = [
  'tour',
  'overload',
  'rate-limit',
  'broken-streams',
  'outage',
  'model-overload',
  'flaky',
] as const;

/**
 * Loads a scenario by shipped name (`tour`, `outage`, …) or by path to a `.json`/`.yaml` file.
 *
 * @throws ScenarioError when the file is missing or invalid.
 */
export async function loadScenario(nameOrPath: string): Promise<Scenario> {
  const builtIn = (BUILT_IN_SCENARIOS as readonly string[]).includes(nameOrPath);
  const url = builtIn ? new URL(`${nameOrPath}.yaml`, SCENARIOS_DIR) : undefined;
  const source = builtIn ? `scenarios/${nameOrPath}.yaml` : nameOrPath;
  let text: string;
  try {
    text = await readFile(url ?? nameOrPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const hint = builtIn
      ? ''
      : ` (not a file, nor one of the shipped scenarios: ${BUILT_IN_SCENARIOS.join(', ')})`;
    throw new ScenarioError('', `cannot be read: ${code ?? String(error)}${hint}`, source);
  }
  return parseScenario(text, source);
}

/** What a picker learns of a request. */
export interface RequestFacts {
  method: string;
  path: string;
  stream: boolean;
  model: string | undefined;
}

/** A rule that fired for a request. */
export interface PickedFault {
  /** Index of the rule in `faults`. */
  rule: number;
  fault: Fault;
}

/** Short text naming what a fault does, for logs. */
export function describeFault(fault: Fault): string {
  const parts: string[] = [];
  if (fault.status !== undefined)
    parts.push(`${fault.status}${fault.errorType ? ` ${fault.errorType}` : ''}`);
  if (fault.body !== undefined && fault.body !== 'json') parts.push(`${fault.body} body`);
  const retryAfter = fault.headers?.['retry-after'] ?? fault.headers?.['retry-after-ms'];
  if (retryAfter !== undefined)
    parts.push(`retry-after ${retryAfter}${fault.headers?.['retry-after'] ? 's' : 'ms'}`);
  if (fault.delayHeadersMs !== undefined) parts.push(`headers delayed ${fault.delayHeadersMs} ms`);
  if (fault.delayFirstEventMs !== undefined) parts.push(`first event delayed ${fault.delayFirstEventMs} ms`);
  if (fault.stall) parts.push(`stall ${fault.stall.ms} ms after ${fault.stall.afterEvents} events`);
  if (fault.drop) parts.push(`drop ${fault.drop.at ?? 'boundary'} after ${fault.drop.afterEvents} events`);
  if (fault.sseError) {
    parts.push(
      `event: error ${fault.sseError.errorType ?? 'overloaded_error'} after ${fault.sseError.afterEvents} events`,
    );
  }
  return parts.join(', ');
}

/**
 * The fault chooser of a scenario for one region: seeded, one draw per request that some active
 * rule matches. Time is the scenario's: `elapsedS()` seconds since the start.
 */
export function createFaultPicker(
  scenario: Scenario,
  options: { seed: number; region?: string; elapsedS: () => number },
): (request: RequestFacts) => PickedFault | undefined {
  const rng: Rng = mulberry32(hashSeed(scenario.seed ?? options.seed, 'chaos', options.region ?? ''));
  const rules = scenario.faults
    .map((rule, index) => ({ rule, index }))
    .filter(({ rule }) => rule.region === undefined || rule.region === options.region);
  return (request) => {
    const t = options.elapsedS();
    const active = rules.filter(
      ({ rule }) => t >= rule.from && t < rule.until && matches(rule.match, request),
    );
    if (active.length === 0) return undefined;
    const u = rng();
    let edge = 0;
    for (const { rule, index } of active) {
      edge += rule.rate;
      if (u < edge) return { rule: index, fault: rule.fault };
    }
    return undefined;
  };
}

function matches(match: RuleMatch, request: RequestFacts): boolean {
  if (match.path !== undefined && match.path !== request.path) return false;
  if (match.method !== undefined && match.method !== request.method.toUpperCase()) return false;
  if (match.stream !== undefined && match.stream !== request.stream) return false;
  if (match.model !== undefined && match.model !== request.model) return false;
  return true;
}
