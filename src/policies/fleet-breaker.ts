/**
 * The circuit breaker shared by a fleet: one breaker per key in the fleet store, counted from every
 * process's outcomes, with at most `halfOpenProbes` probes out across the fleet (each probe slot
 * taken atomically by one owner, freed when it settles or after `probeTtlMs` if its owner died).
 *
 * The hot path stays synchronous: each process keeps a *mirror* of each key's fleet state. While the
 * mirror says open, attempts are rejected at once; while it says closed, they are sent, and each
 * outcome is written behind (`breakerRecord`), whose answer — the fleet's state after it — updates
 * the mirror. A closed mirror older than `syncMs` is re-read before the attempt (awaited, at most
 * the guard's `timeoutMs`, once per `syncMs` per key). So no attempt is admitted on a view of the
 * fleet older than `syncMs`. A process's own failure takes effect at once: while it is being
 * written, the process's next attempt on the key waits for the fleet's answer (one round trip, at
 * most the guard's `timeoutMs`), as its own breaker would count it before the next attempt. A
 * half-open breaker's probe slot is awaited too (same bound); everything else is written behind.
 *
 * While the store (the shard holding a key) is degraded (see `StoreGuard`), the key falls back to
 * the process's own breaker (the single-process policy, starting closed); its mirror is used again
 * once the shard answers.
 *
 * Holding (`hold`, as in the single-process policy): a first attempt the fleet's breaker would
 * refuse waits in a per-process, per-key waiting room instead. One loop per room learns the shared
 * decision for all its waiters: it sleeps until the open period ends, then takes a fleet probe slot
 * for the newest waiter; when another process holds the slot, it polls the shared view every
 * `syncMs` (one store call per process and key, whatever the number of waiters). A closed view
 * admits every waiter; a re-opened one refuses those that were waiting when the probe went out.
 */
import { randomUUID } from 'node:crypto';
import { answered, decide, type Operation, type Policy } from '../pipeline.js';
import type { AttemptHandle, AttemptPlan } from '../recorder.js';
import type { StoreGuard } from '../store/guard.js';
import type { FleetBreakerConfig, FleetBreakerView } from '../store/types.js';
import type { Telemetry } from '../telemetry/instruments.js';
import { A, EVENTS } from '../telemetry/names.js';
import { type BreakerRegistry, type BreakerState, DEFAULT_OPEN_MS } from './breaker.js';
import {
  type BreakerPolicyOptions,
  breakerPolicy,
  holdFor,
  holdMsOf,
  recordBreakerTransition,
  recordBreakerWait,
  type WaitOutcome,
} from './breaker-policy.js';
import { classify } from './classify.js';
import { ClaudeTimeoutError, policyResponse } from './errors.js';
import { classifyHandle } from './retry.js';
import type { Clock } from './types.js';

/** Fleet settings of the shared breaker. */
export interface FleetBreakerSync {
  guard: StoreGuard;
  /** Longest a closed mirror goes without a refresh while used, in ms. */
  syncMs: number;
  /** A probe slot whose owner never settled it is freed after this long, in ms. */
  probeTtlMs: number;
}

/** The fleet breaker's config from the breaker options (the single-process defaults). */
export function fleetBreakerConfig(options: BreakerPolicyOptions, probeTtlMs: number): FleetBreakerConfig {
  const openMs = options.openMs ?? DEFAULT_OPEN_MS;
  const window = options.window;
  return {
    mode: options.mode ?? 'failure_rate',
    consecutiveFailures: options.consecutiveFailures ?? 5,
    failureRateThreshold: options.failureRateThreshold ?? 0.5,
    minimumThroughput: options.minimumThroughput ?? 10,
    // The fleet's last `size` outcomes, or its outcomes of the last `ms`.
    windowKind: window?.kind ?? 'count',
    windowSize: window?.kind === 'count' ? window.size : 20,
    windowMs: window?.kind === 'time' ? window.ms : 10_000,
    openMs,
    openBackoffMultiplier: options.openBackoffMultiplier ?? 1,
    maxOpenMs: Math.max(openMs, options.maxOpenMs ?? 300_000),
    halfOpenProbes: options.halfOpenProbes ?? 1,
    successThreshold: options.successThreshold ?? 1,
    probeTtlMs,
  };
}

interface Mirror {
  state: BreakerState;
  /** While open: when probes may be tried, by the clock. */
  openUntil: number;
  syncedAt: number;
  /** This process's last failure being written: the next attempt waits for the fleet's answer. */
  recording: Promise<void> | undefined;
}

const defaultKey = (attempt: { region: string; model: string | undefined }): string =>
  `${attempt.region}|${attempt.model ?? '-'}`;

/** How a fleet wait ended: the shared outcomes, or `local` (the store failed: the local breaker decides). */
type FleetWaitEnd =
  | { kind: 'admitted' }
  | { kind: 'probe'; owner: string }
  | { kind: 'refused' | 'timeout' | 'closed' | 'local' };

interface FleetWaiter {
  readonly seq: number;
  readonly startedAt: number;
  settle(end: FleetWaitEnd): void;
}

/** The waiters of one key in this process, and the loop that learns the fleet's decision for them. */
interface Room {
  readonly waiters: FleetWaiter[];
  seq: number;
  running: boolean;
  /** Resolved when the probe this room handed out has been settled. */
  probeDone: (() => void) | undefined;
}

export function fleetBreakerPolicy(
  options: BreakerPolicyOptions,
  localRegistry: BreakerRegistry,
  sync: FleetBreakerSync,
  clock: Clock,
  telemetry: Telemetry,
): Policy {
  const keyOf = options.key ?? defaultKey;
  const config = fleetBreakerConfig(options, sync.probeTtlMs);
  const local = breakerPolicy(options, localRegistry);
  const { guard } = sync;
  const mirrors = new Map<string, Mirror>();
  const holdMs = holdMsOf(options.hold);
  const rooms = new Map<string, Room>();
  const closed = localRegistry.closedSignal;
  /** Between two reads of the shared view while another process's probe is out. */
  const pollMs = Math.max(1, sync.syncMs);
  const classifyOptions = { rateLimitCountsAsFailure: options.rateLimitCountsAsFailure ?? false };

  const mirrorOf = (key: string): Mirror => {
    let m = mirrors.get(key);
    if (m === undefined) {
      if (mirrors.size >= 1000) {
        const oldest = mirrors.keys().next();
        if (!oldest.done) mirrors.delete(oldest.value);
      }
      m = { state: 'closed', openUntil: 0, syncedAt: Number.NEGATIVE_INFINITY, recording: undefined };
      mirrors.set(key, m);
    }
    return m;
  };

  /** Takes the fleet's view into the mirror; a change is a transition (metrics, and `op`'s event). */
  const apply = (key: string, view: FleetBreakerView, op?: Operation): void => {
    const m = mirrorOf(key);
    const now = clock.now();
    const from = m.state === 'open' && now >= m.openUntil ? 'half_open' : m.state;
    m.state = view.state;
    m.openUntil = view.state === 'open' ? now + view.openForMs : 0;
    m.syncedAt = now;
    if (from === view.state) return;
    const attributes = {
      [A.ANTHROPIC_BREAKER_KEY]: key,
      [A.ANTHROPIC_BREAKER_FROM]: from,
      [A.ANTHROPIC_BREAKER_TO]: view.state,
    };
    recordBreakerTransition(telemetry, key, from, view.state);
    if (op !== undefined) decide(op, EVENTS.BREAKER_TRANSITION.name, attributes);
  };

  /**
   * Writes an outcome behind; the fleet's answer updates the mirror. A failure is remembered until
   * it is answered, so the process's next attempt on the key waits for it (only a failure can open
   * the breaker: a success holds no one).
   */
  const record = (key: string, outcome: 'success' | 'failure'): void => {
    const m = mirrorOf(key);
    const write: Promise<void> = guard
      .call('breaker', key, (store) => store.breakerRecord(key, outcome === 'failure', config))
      .then((view) => {
        if (view !== undefined) apply(key, view);
        if (m.recording === write) m.recording = undefined;
      });
    if (outcome === 'failure') m.recording = write;
  };

  const reject = (
    op: Operation,
    plan: AttemptPlan,
    key: string,
    state: BreakerState,
    retryAfterMs: number,
  ) => {
    op.telemetry.safely('breaker_metrics', () =>
      op.telemetry.instruments.breakerRejections.add(1, { [A.ANTHROPIC_BREAKER_KEY]: key }),
    );
    decide(op, EVENTS.BREAKER_REJECTED.name, {
      [A.ANTHROPIC_BREAKER_KEY]: key,
      [A.ANTHROPIC_BREAKER_STATE]: state,
    });
    const response = policyResponse(
      'circuit_open',
      `claude-otel-middleware: circuit breaker ${key} is ${state.replace('_', '-')} across the fleet; not sent (retry in ${Math.ceil(retryAfterMs)} ms)`,
      { retryable: false, retryAfterMs },
    );
    return answered(plan, response, 'circuit_open');
  };

  const outcomeOf = (handle: AttemptHandle): 'success' | 'failure' | 'ignore' => {
    const c = handle.ok
      ? classify(
          {
            kind: 'response',
            status: handle.response.status,
            headers: handle.response.headers,
            errorType: handle.errorType,
          },
          Date.now(),
          classifyOptions,
        )
      : classifyHandle(handle);
    if (c.errorType === undefined) return 'success';
    return c.countsAsFailure ? 'failure' : 'ignore';
  };

  const release = (room: Room, end: FleetWaitEnd, upTo = Number.POSITIVE_INFINITY): void => {
    for (const waiter of [...room.waiters]) if (waiter.seq <= upTo) waiter.settle(end);
  };

  /** Learns the fleet's decision for the waiters of `key` (one loop per key while any wait). */
  const learn = async (key: string, room: Room): Promise<void> => {
    room.running = true;
    try {
      while (room.waiters.length > 0) {
        if (closed.aborted) return release(room, { kind: 'closed' });
        const m = mirrorOf(key);
        const now = clock.now();
        if (m.state === 'closed') return release(room, { kind: 'admitted' });
        if (m.state === 'open' && now < m.openUntil) {
          // Nothing changes across the fleet before the open period ends.
          await clock.sleep(m.openUntil - now, closed).catch(() => undefined);
          continue;
        }
        // Due: whoever waits now was waiting when the probe goes out.
        const mark = room.seq - 1;
        const owner = `${process.pid}:${randomUUID()}`;
        const slot = await guard.call('breaker', key, (store) =>
          store.breakerAcquireProbe(key, owner, config),
        );
        if (slot === undefined) return release(room, { kind: 'local' });
        apply(key, slot.view);
        // Whether a probe went out (ours, or another process's): past our mirror's open period the
        // fleet's breaker is due too (the mirror's period ends no earlier than the store's), so an
        // open view now means another process's probe already failed.
        const probeOut = slot.granted || slot.view.state !== 'closed';
        if (slot.granted) {
          const newest = room.waiters.at(-1);
          if (newest === undefined) {
            void guard.call('breaker', key, (store) =>
              store.breakerSettleProbe(key, owner, 'ignore', config),
            );
            return;
          }
          const done = new Promise<void>((resolve) => {
            room.probeDone = resolve;
          });
          newest.settle({ kind: 'probe', owner });
          await done;
          room.probeDone = undefined;
        } else if (slot.view.state === 'half_open') {
          // Another process carries the probe: read the shared view every `pollMs`.
          await clock.sleep(pollMs, closed).catch(() => undefined);
          const view = await guard.call('breaker', key, (store) => store.breakerView(key, config));
          if (view === undefined) return release(room, { kind: 'local' });
          apply(key, view);
        }
        // Re-opened after a probe: it failed; those waiting when it went out are refused.
        if (probeOut && mirrorOf(key).state === 'open') release(room, { kind: 'refused' }, mark);
      }
    } finally {
      room.running = false;
    }
  };

  /** Waits in `key`'s room, at most `waitMs`; rejects with the signal's reason on an abort. */
  const wait = (key: string, waitMs: number, signal: AbortSignal | undefined): Promise<FleetWaitEnd> => {
    if (signal?.aborted) return Promise.reject(signal.reason);
    let room = rooms.get(key);
    if (room === undefined) {
      room = { waiters: [], seq: 0, running: false, probeDone: undefined };
      rooms.set(key, room);
    }
    const r = room;
    return new Promise<FleetWaitEnd>((resolve, reject) => {
      let done = false;
      const finish = (): boolean => {
        if (done) return false;
        done = true;
        timer.cancel();
        signal?.removeEventListener('abort', onAbort);
        const i = r.waiters.indexOf(waiter);
        if (i >= 0) r.waiters.splice(i, 1);
        if (r.waiters.length === 0 && !r.running) rooms.delete(key);
        return true;
      };
      const waiter: FleetWaiter = {
        seq: r.seq++,
        startedAt: clock.now(),
        settle: (end) => {
          if (finish()) resolve(end);
        },
      };
      const onAbort = (): void => {
        if (finish()) reject(signal?.reason);
      };
      const timer = clock.setTimer(() => waiter.settle({ kind: 'timeout' }), waitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      r.waiters.push(waiter);
      if (!r.running) void learn(key, r);
    });
  };

  /** Sends the probe whose fleet slot `owner` holds, settles it, and takes the fleet's view. */
  const sendProbe = async (
    op: Operation,
    plan: AttemptPlan,
    next: (plan: AttemptPlan) => Promise<AttemptHandle>,
    key: string,
    owner: string,
  ): Promise<AttemptHandle> => {
    let handle: AttemptHandle;
    try {
      handle = await next(plan);
    } catch (error) {
      void guard.call('breaker', key, (store) => store.breakerSettleProbe(key, owner, 'ignore', config));
      throw error;
    }
    const outcome = outcomeOf(handle);
    const view = await guard.call('breaker', key, (store) =>
      store.breakerSettleProbe(key, owner, outcome, config),
    );
    if (view !== undefined) apply(key, view, op);
    return handle;
  };

  /**
   * Holds a first attempt the fleet's breaker refused; returns the attempt's handle, or `undefined`
   * when it is refused after all (or may not wait).
   */
  const hold = async (
    op: Operation,
    plan: AttemptPlan,
    next: (plan: AttemptPlan) => Promise<AttemptHandle>,
    key: string,
    state: BreakerState,
  ): Promise<AttemptHandle | undefined> => {
    const waitMs = holdFor(op, plan, holdMs);
    if (waitMs <= 0 || closed.aborted) return undefined;
    const startedAt = clock.now();
    let end: FleetWaitEnd;
    try {
      end = await wait(key, waitMs, op.signal);
    } catch (reason) {
      const deadline = reason instanceof ClaudeTimeoutError;
      recordBreakerWait(op, key, state, deadline ? 'deadline' : 'aborted', clock.now() - startedAt);
      if (!deadline) throw reason;
      return undefined;
    }
    const waited = clock.now() - startedAt;
    if (end.kind === 'local') {
      recordBreakerWait(op, key, state, 'admitted', waited);
      return local(op, plan, next);
    }
    const outcome: WaitOutcome = end.kind === 'timeout' && waitMs < holdMs ? 'deadline' : end.kind;
    recordBreakerWait(op, key, state, outcome, waited);
    if (end.kind === 'probe') {
      const room = rooms.get(key);
      try {
        if (op.signal?.aborted) {
          void guard.call('breaker', key, (store) =>
            store.breakerSettleProbe(key, end.owner, 'ignore', config),
          );
          throw op.signal.reason;
        }
        return await sendProbe(op, plan, next, key, end.owner);
      } finally {
        room?.probeDone?.();
      }
    }
    if (end.kind !== 'admitted') return undefined;
    if (op.signal?.aborted) throw op.signal.reason;
    const handle = await next(plan);
    const result = outcomeOf(handle);
    if (result !== 'ignore') record(key, result);
    return handle;
  };

  return async (op, plan, next) => {
    const key = keyOf({ region: plan.region, model: plan.model });
    if (!guard.isShared('breaker', key)) {
      // Degraded (the shard of this key): the local breaker decides, and a call in the background
      // (the guard checks the shard every `retryMs`) tells when it is back — even when no other
      // policy uses the store.
      void guard.call('breaker', key, (store) => store.breakerView(key, config));
      return local(op, plan, next);
    }
    const m = mirrorOf(key);
    // This process's own failure takes effect before its next attempt: wait for the fleet's answer
    // to it (one store round trip; within the guard's timeout, nothing once the shard is degraded).
    if (m.recording !== undefined) await m.recording;
    const now = clock.now();
    if (m.state === 'open' && now < m.openUntil) {
      return (
        (await hold(op, plan, next, key, 'open')) ?? reject(op, plan, key, 'open', m.openUntil - clock.now())
      );
    }
    if (m.state === 'closed' && now - m.syncedAt >= sync.syncMs) {
      // At most once per `syncMs` per key, within the guard's timeout (skipped while degraded).
      m.syncedAt = now;
      const view = await guard.call('breaker', key, (store) => store.breakerView(key, config));
      if (view !== undefined) apply(key, view, op);
      // `apply` changed it (TypeScript still narrows it to 'closed').
      const after = m.state as BreakerState;
      if (after === 'open' && clock.now() < m.openUntil) {
        return (
          (await hold(op, plan, next, key, 'open')) ??
          reject(op, plan, key, 'open', Math.max(0, m.openUntil - clock.now()))
        );
      }
    }
    if (m.state !== 'closed') {
      // A room already learning the decision for this key: join it instead of asking the store.
      if (rooms.get(key)?.running && holdFor(op, plan, holdMs) > 0) {
        const held = await hold(op, plan, next, key, m.state);
        if (held !== undefined) return held;
        return reject(op, plan, key, m.state, Math.max(0, m.openUntil - clock.now()));
      }
      // Open and due, or half-open: only the owner of a fleet probe slot may send.
      const owner = `${process.pid}:${randomUUID()}`;
      const slot = await guard.call('breaker', key, (store) => store.breakerAcquireProbe(key, owner, config));
      if (slot === undefined) return local(op, plan, next);
      apply(key, slot.view, op);
      if (!slot.granted && slot.view.state !== 'closed') {
        return (
          (await hold(op, plan, next, key, slot.view.state)) ??
          reject(op, plan, key, slot.view.state, slot.view.openForMs)
        );
      }
      if (slot.granted) return sendProbe(op, plan, next, key, owner);
    }
    const handle = await next(plan);
    const outcome = outcomeOf(handle);
    if (outcome !== 'ignore') record(key, outcome);
    return handle;
  };
}
