/**
 * The model fallback chain: when a request's model keeps failing with a service-side error
 * (overload, 5xx, timeouts, an open breaker…), the next model of a configured chain is tried with
 * the body's `model` rewritten. A small state machine with an injected clock:
 *
 * - the *chain* of a request is its own model followed by the models after it in
 *   {@link FallbackOptions.models} (a model not in the list gets the whole list);
 * - a *trigger* is an error type that moves on to the next model. The caller's own errors (the
 *   non-retryable 4xx of the taxonomy) never do: another model would fail the same way, and a
 *   fallback would hide a bug;
 * - *stickiness* (optional): after model A fell back to B, requests for A go straight to B for
 *   `stickyMs`, so a struggling model is not hit by every request first. A success of A (a request
 *   that was already under way) ends it early.
 */
import { TAXONOMY } from './classify.js';
import type { Clock, ErrorType } from './types.js';

/** Options of the model fallback (option `fallback`). */
export interface FallbackOptions {
  /**
   * The ordered chain of models to fall back to, after the request's own model, e.g.
   * `['claude-sonnet-4-6', 'claude-haiku-4-5']`. A request for a model of the list falls back only
   * to the models after it; a request for any other model may fall back to all of them.
   * Required, non-empty strings.
   */
  models: string[];
  /**
   * The error types that trigger a fallback. Default: overloads, server errors, timeouts,
   * connection errors and an open circuit breaker. The caller's own errors
   * (`invalid_request_error`, `authentication_error`, …) and the
   * caller's abort (`aborted`) are refused with a `TypeError`: another model would not fix them.
   * `rate_limit_error` may be listed (each model has its own limits); it is not by default.
   */
  on?: string[];
  /**
   * After a fallback from model A to model B, requests for A go straight to B for this long, in
   * milliseconds of the clock. Default 0: off, every request tries its own model first.
   */
  stickyMs?: number;
}

/**
 * The error types that trigger a fallback by default: the service's failures, never the caller's.
 */
export const DEFAULT_FALLBACK_ON: readonly ErrorType[] = Object.freeze([
  'overloaded_error',
  'api_error',
  'server_error',
  'service_unavailable',
  'bad_gateway',
  'timeout_error',
  'circuit_open',
  'connection_error',
  'connect_timeout',
  'timeout',
]);

/**
 * The caller's own errors, which never trigger a fallback: the non-retryable 4xx rows of the
 * {@link TAXONOMY} (`invalid_request_error`, `authentication_error`, `billing_error`,
 * `permission_error`, `not_found_error`, `request_too_large`, `unprocessable_entity`,
 * `client_error`).
 */
export const CALLER_ERROR_TYPES: readonly ErrorType[] = Object.freeze(
  TAXONOMY.filter(
    (entry) =>
      entry.status === 'other 4xx' ||
      (typeof entry.status === 'number' && entry.status < 500 && !entry.retryable),
  ).map((entry) => entry.errorType),
);

/** Error types that may never be listed in {@link FallbackOptions.on}. */
const REFUSED = new Set<ErrorType>([...CALLER_ERROR_TYPES, 'aborted']);

/** A fallback in force: requests for the model go to `to` until `until`. */
interface Sticky {
  readonly to: string;
  readonly until: number;
}

function validModels(models: unknown): string[] {
  if (!Array.isArray(models) || models.length === 0) {
    throw new TypeError('fallback.models must be a non-empty array of model names');
  }
  for (const model of models) {
    if (typeof model !== 'string' || model.length === 0) {
      throw new TypeError(`fallback.models must hold non-empty strings, got ${JSON.stringify(model)}`);
    }
  }
  // A model listed twice is kept once, at its first place.
  return [...new Set(models as string[])];
}

function validOn(on: unknown): Set<ErrorType> {
  if (on === undefined) return new Set(DEFAULT_FALLBACK_ON);
  if (!Array.isArray(on)) throw new TypeError('fallback.on must be an array of error types');
  for (const type of on) {
    if (typeof type !== 'string' || type.length === 0) {
      throw new TypeError(`fallback.on must hold non-empty strings, got ${JSON.stringify(type)}`);
    }
    if (REFUSED.has(type)) {
      throw new TypeError(
        `fallback.on may not list ${type}: it is the caller's own error, and another model would fail the same way`,
      );
    }
  }
  return new Set(on as string[]);
}

function validStickyMs(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new TypeError(`fallback.stickyMs must be a number >= 0, got ${String(value)}`);
  }
  return value;
}

/**
 * The model fallback chain (see the module comment). Holds only the stickiness state: which model
 * currently goes to which replacement, and until when.
 */
export class ModelFallback {
  readonly #models: readonly string[];
  readonly #on: ReadonlySet<ErrorType>;
  readonly #stickyMs: number;
  readonly #clock: Clock;
  readonly #sticky = new Map<string, Sticky>();

  /**
   * @param options Validated here: a `TypeError` for an empty or non-string `models`, an `on`
   *   that lists a caller error, or a negative `stickyMs`.
   * @param clock Times the stickiness.
   */
  constructor(options: FallbackOptions, clock: Clock) {
    this.#models = Object.freeze(validModels(options.models));
    this.#on = validOn(options.on);
    this.#stickyMs = validStickyMs(options.stickyMs);
    this.#clock = clock;
  }

  /**
   * The models to try for a request whose body names `model`, in order, each once. Normally the
   * request's model, then the models after it in {@link FallbackOptions.models} (all of them when
   * it is not in the list). While a fallback of `model` to a replacement is sticky, the replacement
   * comes first and `model` itself is skipped: the rest of the normal chain follows.
   */
  chain(model: string): readonly string[] {
    const index = this.#models.indexOf(model);
    const after = index === -1 ? this.#models : this.#models.slice(index + 1);
    const sticky = this.#active(model);
    if (sticky === undefined) return [model, ...after];
    return [sticky.to, ...after.filter((m) => m !== sticky.to)];
  }

  /**
   * Whether an error type triggers a fallback: listed in {@link FallbackOptions.on}. `undefined`
   * (a success) never does.
   */
  triggers(errorType: ErrorType | undefined): boolean {
    return errorType !== undefined && this.#on.has(errorType);
  }

  /**
   * Records that a request for `from` fell back to `to`. With `stickyMs` > 0, requests for `from`
   * go straight to `to` for `stickyMs` from now (a later call replaces an earlier one). Without,
   * or when `from` = `to`, it does nothing.
   */
  fellBack(from: string, to: string): void {
    if (this.#stickyMs <= 0 || from === to) return;
    const now = this.#clock.now();
    // Expired entries go whenever a new one comes, so the map never outgrows the live fallbacks.
    for (const [model, sticky] of this.#sticky) {
      if (now >= sticky.until) this.#sticky.delete(model);
    }
    this.#sticky.set(from, { to, until: now + this.#stickyMs });
  }

  /** Records a success of the request's own model: it ends that model's stickiness early. */
  succeeded(model: string): void {
    this.#sticky.delete(model);
  }

  /** The stickiness in force for `model`, if any. */
  #active(model: string): Sticky | undefined {
    const sticky = this.#sticky.get(model);
    if (sticky === undefined) return undefined;
    if (this.#clock.now() >= sticky.until) {
      this.#sticky.delete(model);
      return undefined;
    }
    return sticky;
  }
}

// Character codes of the JSON punctuation.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipSpace(text: string, i: number): number {
  let j = i;
  while (j < text.length && isJsonSpace(text.charCodeAt(j))) j++;
  return j;
}

/** The index after the string literal that starts (with its quote) at `i`. */
function endOfString(text: string, i: number): number {
  let j = i + 1;
  while (j < text.length) {
    const c = text.charCodeAt(j);
    if (c === BACKSLASH) j += 2;
    else if (c === QUOTE) return j + 1;
    else j++;
  }
  return j;
}

/** The index after the JSON value that starts at `i` (the text is known to be valid JSON). */
function endOfValue(text: string, i: number): number {
  const first = text.charCodeAt(i);
  if (first === QUOTE) return endOfString(text, i);
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    let j = i;
    while (j < text.length) {
      const c = text.charCodeAt(j);
      if (c === QUOTE) {
        j = endOfString(text, j);
        continue;
      }
      if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
      else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return j + 1;
      }
      j++;
    }
    return j;
  }
  // A number or a literal.
  let j = i;
  while (j < text.length) {
    const c = text.charCodeAt(j);
    if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || isJsonSpace(c)) break;
    j++;
  }
  return j;
}

/**
 * Returns the JSON body with its top-level `"model"` replaced by `model`. Only the value's text
 * changes: every other field keeps its place and its exact text (numbers, escapes, whitespace), so
 * nothing is lost to a parse and re-serialization. A body without a top-level `"model"` gets one
 * appended; a body that names it more than once has each replaced.
 *
 * @returns `undefined` when `body` is not the JSON text of an object.
 */
export function withModel(body: string, model: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const replacement = JSON.stringify(model);
  // Value spans of the top-level "model" keys.
  const spans: Array<[number, number]> = [];
  let fields = 0;
  let i = skipSpace(body, 0) + 1; // after `{`
  let close = -1;
  while (i < body.length) {
    i = skipSpace(body, i);
    if (body.charCodeAt(i) === CLOSE_BRACE) {
      close = i;
      break;
    }
    const keyEnd = endOfString(body, i);
    const key = JSON.parse(body.slice(i, keyEnd)) as string;
    i = skipSpace(body, keyEnd); // at `:`
    if (body.charCodeAt(i) === COLON) i = skipSpace(body, i + 1);
    const valueEnd = endOfValue(body, i);
    if (key === 'model') spans.push([i, valueEnd]);
    fields++;
    i = skipSpace(body, valueEnd);
    if (body.charCodeAt(i) === COMMA) i++;
  }
  if (spans.length === 0) {
    if (close === -1) return undefined; // unreachable for a parsed object
    const field = `${fields > 0 ? ',' : ''}"model":${replacement}`;
    return body.slice(0, close) + field + body.slice(close);
  }
  let out = '';
  let from = 0;
  for (const [start, end] of spans) {
    out += body.slice(from, start) + replacement;
    from = end;
  }
  return out + body.slice(from);
}
