/**
 * `chaos`: Claude-shaped faults for your own application. Without an upstream, the fake Claude API
 * answers, with the scenario's faults. With one (`--upstream https://api.anthropic.com`), a proxy
 * forwards every request unchanged — method, path, query, headers (authentication included) and
 * body bytes — and streams the answer back chunk by chunk as it arrives (nothing is buffered),
 * except for the requests a scenario rule picks: those get the rule's fault instead:
 *
 * - `status` (≥ 400): answered by the proxy with an Anthropic error body (or `body: html|empty|
 *   truncated-json`) and the rule's headers (a `req_` + 24 `request-id`, `retry-after: 1` on a
 *   429 unless the rule sets one, the organization and rate-limit headers of the upstream's latest
 *   answer); the upstream never sees the request;
 * - `delayHeadersMs`: the request is held back that long before it is forwarded (a client that
 *   leaves meanwhile costs no upstream request);
 * - on streamed answers (`text/event-stream`), counted in complete SSE events: `delayFirstEventMs`,
 *   `stall` (a pause after `afterEvents` events), `drop` (the connection destroyed on an event
 *   boundary, mid-event or inside a UTF-8 character), `sseError` (an `event: error` instead of the
 *   rest of the stream);
 * - `status` below 400 replaces the upstream's status code; a `body` shape without an error status
 *   applies only to the fake (the proxy forwards the upstream's body).
 *
 * Each fault is logged as one line; the request body is read whole before it is forwarded (to see
 * `stream` and `model`), the response never is. A request picked for a fault inside its stream is
 * sent with `accept-encoding: identity` (events are counted on the bytes); were it compressed anyway,
 * it is passed through without the fault.
 */

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import {
  defaultErrorMessage,
  errorBody,
  errorTypeForStatus,
  htmlPage,
  reasonPhrase,
} from '../testing/content.js';
import { derivedId, derivedUuid } from '../testing/rng.js';
import { dropConnection, listen, RateLimiter, startFakeClaude, writeChunk } from '../testing/server.js';
import { midUtf8Offset, sseFrame } from '../testing/sse.js';
import type { Fault } from '../testing/types.js';
import {
  createFaultPicker,
  describeFault,
  type PickedFault,
  type RequestFacts,
  type Scenario,
} from './scenario.js';

export interface ChaosOptions {
  scenario: Scenario;
  /** Forward to this base URL; without it the fake Claude API answers. */
  upstream?: string | undefined;
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Seed of the fault draws (the scenario's own `seed` wins). Default 1. */
  seed?: number;
  /** Rules with a `region` apply when it is this one. Default `primary`. */
  region?: string;
  /** One line per fault (and per request with `verbose`). */
  log?: ((line: string) => void) | undefined;
  verbose?: boolean;
}

export interface ChaosStats {
  requests: number;
  faults: number;
  passedThrough: number;
  /** Fault count by rule index. */
  byRule: Record<number, number>;
}

export interface ChaosServer {
  /** Base URL to use as `ANTHROPIC_BASE_URL`. */
  readonly url: string;
  stats(): ChaosStats;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

const MAX_BODY_BYTES = 32 * 1024 * 1024;

function noop(): void {}

function time(): string {
  return new Date().toISOString().slice(11, 23);
}

function factsOf(method: string, path: string, body: Buffer | undefined): RequestFacts {
  let stream = false;
  let model: string | undefined;
  if (body !== undefined && body.length > 0 && body.length <= MAX_BODY_BYTES) {
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { stream?: unknown; model?: unknown };
      stream = parsed?.stream === true;
      model = typeof parsed?.model === 'string' ? parsed.model : undefined;
    } catch {
      // Not JSON: forwarded as it is.
    }
  }
  return { method, path, stream, model };
}

function logLine(picked: PickedFault, facts: RequestFacts, serial: number): string {
  const what = `${facts.method} ${facts.path}${facts.stream ? ' (stream)' : ''}${facts.model ? ` ${facts.model}` : ''}`;
  return `${time()} #${serial} ${what} → fault (rule ${picked.rule}): ${describeFault(picked.fault)}`;
}

/** Starts `chaos`: the fake API with the scenario's faults, or the fault-injecting proxy. */
export async function startChaos(options: ChaosOptions): Promise<ChaosServer> {
  const startedAt = performance.now();
  const elapsedS = (): number => (performance.now() - startedAt) / 1000;
  const seed = options.seed ?? 1;
  const pick = createFaultPicker(options.scenario, { seed, region: options.region ?? 'primary', elapsedS });
  const stats: ChaosStats = { requests: 0, faults: 0, passedThrough: 0, byRule: {} };
  const count = (picked: PickedFault | undefined): void => {
    stats.requests++;
    if (picked === undefined) stats.passedThrough++;
    else {
      stats.faults++;
      stats.byRule[picked.rule] = (stats.byRule[picked.rule] ?? 0) + 1;
    }
  };
  const log = options.log;

  if (options.upstream === undefined) {
    let serial = 0;
    const fake = await startFakeClaude({
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      name: options.region ?? 'primary',
      seed,
      faultFor: (request) => {
        const body = request.body as { stream?: unknown; model?: unknown } | undefined;
        const facts: RequestFacts = {
          method: request.method,
          path: request.path,
          stream: body?.stream === true,
          model: typeof body?.model === 'string' ? body.model : undefined,
        };
        const picked = pick(facts);
        count(picked);
        serial++;
        if (picked !== undefined) log?.(logLine(picked, facts, serial));
        else if (options.verbose) log?.(`${time()} #${serial} ${facts.method} ${facts.path} → answered`);
        return picked?.fault;
      },
    });
    return {
      url: fake.url,
      stats: () => ({ ...stats, byRule: { ...stats.byRule } }),
      close: () => fake.close(),
    };
  }
  const server = await startProxy(options, options.upstream, pick, count);
  return { ...server, stats: () => ({ ...stats, byRule: { ...stats.byRule } }) };
}

async function startProxy(
  options: ChaosOptions,
  upstream: string,
  pick: (facts: RequestFacts) => PickedFault | undefined,
  count: (picked: PickedFault | undefined) => void,
): Promise<Omit<ChaosServer, 'stats'>> {
  const base = new URL(upstream);
  const basePath = base.pathname.replace(/\/+$/, '');
  const send = base.protocol === 'https:' ? httpsRequest : httpRequest;
  const log = options.log;
  const seed = options.seed ?? 1;
  const sockets = new Set<Socket>();
  const shutdown = new AbortController();
  let serial = 0;

  // Request ids are unique per proxy instance (`req_` + 24 characters, as the API's).
  const instance = randomBytes(8).toString('hex');
  const requestIdOf = (n: number): string => `req_${derivedId(seed, n, `${instance}:chaos`)}`;
  const organizationId = derivedUuid(seed, 'organization');
  /** The upstream's latest `anthropic-organization-id` and `anthropic-ratelimit-*` headers. */
  let upstreamAccount: Record<string, string> | undefined;
  const fallbackLimits = new RateLimiter({});

  /** Headers of an answer the proxy makes itself: the upstream's account headers as last seen. */
  function accountHeaders(status: number): Record<string, string> {
    const known = upstreamAccount ?? {
      'anthropic-organization-id': organizationId,
      ...fallbackLimits.headers(0, 0, false),
    };
    const out: Record<string, string> = { ...known };
    if (status === 429) {
      for (const name of Object.keys(out)) if (name.endsWith('-remaining')) out[name] = '0';
    }
    return out;
  }

  function remember(headers: IncomingHttpHeaders): void {
    const seen: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value !== 'string') continue;
      if (name === 'anthropic-organization-id' || name.startsWith('anthropic-ratelimit-')) seen[name] = value;
    }
    if (Object.keys(seen).length > 0) upstreamAccount = seen;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, n: number): Promise<void> {
    // Aborted when the client goes away before its answer ended, or the proxy closes.
    const left = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) left.abort();
    });
    const signal = AbortSignal.any([left.signal, shutdown.signal]);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://proxy.invalid');
    const facts = factsOf(req.method ?? 'GET', url.pathname, body);
    const picked = pick(facts);
    count(picked);
    const fault = picked?.fault;
    if (picked !== undefined) log?.(logLine(picked, facts, n));
    else if (options.verbose) log?.(`${time()} #${n} ${facts.method} ${url.pathname} → forwarded`);

    // The headers are held back before the request goes upstream: a client that gives up during
    // the delay costs no upstream request (against the real API, one billed and never read).
    if (fault?.delayHeadersMs && !(await wait(fault.delayHeadersMs, signal))) {
      if (left.signal.aborted) log?.(`${time()} #${n} client went away: not forwarded`);
      return;
    }
    if (signal.aborted) return;
    if (fault?.status !== undefined && fault.status >= 400) {
      respondError(res, fault, requestIdOf(n), accountHeaders(fault.status));
      return;
    }

    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    headers.host = base.host;
    // A fault inside a stream counts events, so that stream is asked for uncompressed (only that one).
    const inStream = fault?.stall || fault?.drop || fault?.sseError || fault?.delayFirstEventMs;
    if (inStream) headers['accept-encoding'] = 'identity';
    if (body.length > 0 || req.headers['content-length'] !== undefined)
      headers['content-length'] = body.length;
    const target = `${basePath}${url.pathname}${url.search}`;
    const upstreamReq = send({
      protocol: base.protocol,
      hostname: base.hostname,
      port: base.port || undefined,
      method: req.method,
      path: target,
      headers,
    });
    const gone = (): void => {
      upstreamReq.destroy();
    };
    res.on('close', gone);
    upstreamReq.on('error', (error) => {
      if (!res.headersSent) {
        const message = `chaos proxy: upstream ${base.host} failed: ${error.message}`;
        const requestId = requestIdOf(n);
        const payload = Buffer.from(JSON.stringify(errorBody('api_error', message, requestId)));
        res.writeHead(502, {
          'request-id': requestId,
          'content-type': 'application/json',
          'content-length': payload.length,
        });
        res.end(payload);
      } else res.destroy();
    });
    upstreamReq.end(body);
    let upstreamRes: IncomingMessage;
    try {
      [upstreamRes] = (await once(upstreamReq, 'response', { signal })) as [IncomingMessage];
    } catch {
      return;
    }
    remember(upstreamRes.headers);
    const status =
      fault?.status !== undefined && fault.status < 400 ? fault.status : (upstreamRes.statusCode ?? 502);
    const outHeaders = copyHeaders(upstreamRes.headers, fault?.headers);
    const eventStream = /^text\/event-stream/i.test(String(upstreamRes.headers['content-type'] ?? ''));
    const encoding = String(upstreamRes.headers['content-encoding'] ?? 'identity').toLowerCase();
    const streamFault = eventStream && encoding === 'identity' && inStream;
    if (!streamFault || fault === undefined) {
      res.writeHead(status, upstreamRes.statusMessage, outHeaders);
      // An upstream that breaks off its answer breaks off ours too (pipe alone would leave it open).
      const broken = (): void => {
        if (!upstreamRes.complete) res.destroy();
      };
      upstreamRes.on('error', broken);
      upstreamRes.on('close', broken);
      upstreamRes.pipe(res);
      return;
    }
    // A fault inside the stream: forward event by event and act at the rule's event count.
    delete outHeaders['content-length'];
    res.writeHead(status, upstreamRes.statusMessage, outHeaders);
    res.flushHeaders();
    // An in-stream error names the request the upstream answered (its `request-id`).
    const upstreamId = upstreamRes.headers['request-id'];
    await pumpWithFault(
      upstreamRes,
      res,
      fault,
      signal,
      typeof upstreamId === 'string' ? upstreamId : requestIdOf(n),
    );
  }

  const server = createServer((req, res) => {
    req.on('error', noop);
    res.on('error', noop);
    const n = ++serial;
    handle(req, res, n).catch(() => {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(502, { 'request-id': requestIdOf(n), 'content-type': 'application/json' });
        res.end(JSON.stringify(errorBody('api_error', 'chaos proxy failure', requestIdOf(n))));
      } else res.destroy();
    });
  });
  const { url } = await listen(server, sockets, options.host ?? '127.0.0.1', options.port);
  let closing: Promise<void> | undefined;
  return {
    url,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        shutdown.abort();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function copyHeaders(
  from: IncomingHttpHeaders,
  extra: Record<string, string> | undefined,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(from)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  // Keep the upstream's framing: a chunked answer stays chunked (node re-frames it), a sized one sized.
  for (const [name, value] of Object.entries(extra ?? {})) out[name] = value;
  return out;
}

function respondError(
  res: ServerResponse,
  fault: Fault,
  requestId: string,
  account: Record<string, string>,
): void {
  const status = fault.status ?? 500;
  const type = fault.errorType ?? errorTypeForStatus(status);
  let contentType = 'application/json';
  let bytes: Buffer;
  const extra: OutgoingHttpHeaders = {};
  switch (fault.body ?? 'json') {
    case 'html':
      contentType = 'text/html';
      bytes = Buffer.from(htmlPage(status), 'utf8');
      break;
    case 'empty':
      contentType = 'text/plain; charset=utf-8';
      bytes = Buffer.alloc(0);
      break;
    case 'truncated-json': {
      const full = Buffer.from(
        JSON.stringify(errorBody(type, fault.message ?? defaultErrorMessage(type), requestId)),
      );
      bytes = full.subarray(0, Math.floor(full.length / 2));
      extra.connection = 'close';
      break;
    }
    default:
      bytes = Buffer.from(
        JSON.stringify(errorBody(type, fault.message ?? defaultErrorMessage(type), requestId)),
      );
  }
  if (res.headersSent || res.destroyed) return;
  // Every real 429 says when to come back; a rule's own `retry-after` wins.
  const given = Object.keys(fault.headers ?? {}).some((key) => key.toLowerCase() === 'retry-after');
  if (status === 429 && !given) extra['retry-after'] = '1';
  res.writeHead(status, reasonPhrase(status), {
    'request-id': requestId,
    'content-type': contentType,
    ...account,
    'x-claude-chaos': 'injected',
    ...extra,
    ...fault.headers,
    'content-length': bytes.length,
  });
  res.end(bytes);
}

async function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Index just past the first event boundary (a blank line) in `buffer`, or -1. */
function eventEnd(buffer: Buffer): number {
  for (let i = 0; i < buffer.length - 1; i++) {
    if (buffer[i] === 0x0a && buffer[i + 1] === 0x0a) return i + 2;
    if (buffer[i] === 0x0d && buffer[i + 1] === 0x0a && buffer[i + 2] === 0x0d && buffer[i + 3] === 0x0a)
      return i + 4;
    if (buffer[i] === 0x0d && buffer[i + 1] === 0x0d) return i + 2;
  }
  return -1;
}

/** Forwards an SSE body event by event, applying the stream fault at its event count. */
async function pumpWithFault(
  upstream: IncomingMessage,
  res: ServerResponse,
  fault: Fault,
  signal: AbortSignal,
  requestId: string,
): Promise<void> {
  const stop = (): void => {
    upstream.destroy();
  };
  if (fault.delayFirstEventMs && !(await wait(fault.delayFirstEventMs, signal))) return stop();
  let pending: Buffer = Buffer.alloc(0);
  let events = 0;
  let seekingUtf8 = false;
  const write = async (bytes: Buffer): Promise<boolean> => {
    if (res.destroyed || signal.aborted) return false;
    if (!writeChunk(res, bytes)) {
      try {
        await once(res, 'drain', { signal });
      } catch {
        return false;
      }
    }
    return true;
  };
  /** Acts before event number `events` (0-based) is written; returns false when the stream ended. */
  const before = async (frame: Buffer): Promise<'write' | 'ended'> => {
    if (fault.stall && events === fault.stall.afterEvents && !(await wait(fault.stall.ms, signal)))
      return 'ended';
    if (fault.sseError && events === fault.sseError.afterEvents) {
      const type = fault.sseError.errorType ?? 'overloaded_error';
      res.end(
        sseFrame('error', errorBody(type, fault.sseError.message ?? defaultErrorMessage(type), requestId)),
      );
      return 'ended';
    }
    if (fault.drop && (events === fault.drop.afterEvents || seekingUtf8)) {
      const at = fault.drop.at ?? 'boundary';
      if (at === 'boundary') {
        dropConnection(res);
        return 'ended';
      }
      if (at === 'mid-event') {
        dropConnection(res, frame.subarray(0, Math.floor(frame.length / 2)));
        return 'ended';
      }
      const cut = midUtf8Offset(frame);
      if (cut > 0) {
        dropConnection(res, frame.subarray(0, cut));
        return 'ended';
      }
      seekingUtf8 = true;
    }
    return 'write';
  };
  try {
    for await (const chunk of upstream) {
      pending = pending.length === 0 ? (chunk as Buffer) : Buffer.concat([pending, chunk as Buffer]);
      for (let end = eventEnd(pending); end >= 0; end = eventEnd(pending)) {
        const frame = pending.subarray(0, end);
        pending = pending.subarray(end);
        if ((await before(frame)) === 'ended') return stop();
        if (!(await write(frame))) return stop();
        events++;
      }
    }
  } catch {
    res.destroy();
    return;
  }
  if (pending.length > 0 && !(await write(pending))) return;
  // Past the last event: a stall, error or drop set beyond the stream's length applies at its end.
  if (fault.sseError && fault.sseError.afterEvents >= events) {
    const type = fault.sseError.errorType ?? 'overloaded_error';
    res.end(
      sseFrame('error', errorBody(type, fault.sseError.message ?? defaultErrorMessage(type), requestId)),
    );
    return;
  }
  if (fault.drop && (fault.drop.afterEvents >= events || seekingUtf8)) return dropConnection(res);
  res.end();
}
