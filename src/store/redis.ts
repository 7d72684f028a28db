/**
 * `claude-otel-middleware/redis`: the {@link FleetStore} in Redis (through `ioredis`, an optional
 * peer dependency that only this entry point imports).
 *
 * ```ts
 * import { createClaudeFetch } from 'claude-otel-middleware';
 * import { RedisFleetStore } from 'claude-otel-middleware/redis';
 * const store = new RedisFleetStore({ url: 'redis://127.0.0.1:6379', prefix: 'myapp:claude:' });
 * const fetch = createClaudeFetch({ retry: true, breaker: true, throttle: {}, cache: true, store });
 * ```
 *
 * Every read-modify-write is one Lua script, so it is atomic across the fleet, and every time in it
 * is the Redis server's (`TIME`), so the processes' clocks need not agree. Keys (under `prefix`):
 * `breaker:{key}` (hash) and `breaker:{key}:probes` (sorted set of probe owners by expiry),
 * `budget:{name}`, `headroom:{key}` (hash), and the cache's 16 buckets `cache:{<prefix><n>}:…`
 * (entries `e:<cache key>`, and the bucket's `index`, `sizes` and `total` that bound it to
 * `maxCacheBytes / 16`); each expires `ttlMs` after its last write (a cache entry after its own
 * TTL). The braces are Redis Cluster hash tags: every script's keys share a slot. With a `Cluster`
 * client, {@link RedisFleetStore.shardOf} names the master of a key, so the guard keeps health per
 * master. Values are counters, states, rate-limit numbers and cached Message JSON (at most
 * `maxValueBytes`) — never request headers, so never an API key.
 */
import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { crc16, keySlot } from './slot.js';
import {
  type FleetBreakerConfig,
  type FleetBreakerView,
  type FleetStore,
  type HeadroomClaim,
  type HeadroomCost,
  type HeadroomSnapshot,
  type ProbeGrant,
  positiveNumber,
  type StoredResponse,
  type StoreOperation,
} from './types.js';

/** Options of {@link RedisFleetStore}. */
export interface RedisFleetStoreOptions {
  /**
   * An ioredis client to use (not closed by {@link RedisFleetStore.close}): a `Redis`, or a
   * `Cluster` for Redis Cluster (health is then kept per master, see the README's cluster mode).
   * Prefer one created with `enableOfflineQueue: false` (for a `Cluster`, also in its
   * `redisOptions`), so commands fail at once while disconnected instead of queueing.
   * Default: a `Redis` created from `url`.
   */
  client?: Redis | Cluster;
  /** Where Redis is, when no `client` is given. Default `redis://127.0.0.1:6379`. */
  url?: string;
  /**
   * Options of the client created from `url` (merged over the store's: no offline queue, fast reconnects).
   * @default none
   */
  redisOptions?: RedisOptions;
  /** Prefix of every key. Default `claude-otel:`. */
  prefix?: string;
  /** Keys not written for this long expire, in ms. Default 3 600 000 (1 hour). */
  ttlMs?: number;
  /** Largest cached body stored, in bytes; larger ones are not stored. Default 1 048 576 (1 MiB). */
  maxValueBytes?: number;
  /**
   * Most bytes of cached responses kept (besides their TTL), over 16 buckets of a 16th each: a
   * bucket that would pass its share drops its entries that expire first (the oldest). An entry
   * larger than a bucket's share is not stored. Redis holds about this plus ~200 bytes per entry.
   * Default 67 108 864 (64 MiB).
   */
  maxCacheBytes?: number;
}

/** The response cache's buckets: each one hash tag (one slot), so its entries and index share it. */
const CACHE_BUCKETS = 16;

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS: hash, probes. ARGV: op, config (12 values), ttl, arg, arg2, window kind, window size. */
const BREAKER = `${NOW}
local op = ARGV[1]
local mode = ARGV[2]
local consN = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
local minT = tonumber(ARGV[5])
local windowMs = tonumber(ARGV[6])
local openMs = tonumber(ARGV[7])
local mult = tonumber(ARGV[8])
local maxOpen = tonumber(ARGV[9])
local probes = tonumber(ARGV[10])
local succN = tonumber(ARGV[11])
local probeTtl = tonumber(ARGV[12])
local ttl = tonumber(ARGV[13])
local h = KEYS[1]
local z = KEYS[2]
local state = redis.call('HGET', h, 'state') or 'closed'
local openUntil = tonumber(redis.call('HGET', h, 'openUntil') or '0')
local openDur = tonumber(redis.call('HGET', h, 'openDur') or ARGV[7])
if state == 'open' and now >= openUntil then
  state = 'half_open'
  redis.call('HSET', h, 'succ', 0)
  redis.call('DEL', z)
end
local function open(reopen)
  if reopen then openDur = math.min(openDur * mult, maxOpen) end
  state = 'open'
  openUntil = now + openDur
  redis.call('HSET', h, 'openUntil', openUntil, 'openDur', openDur)
  redis.call('DEL', z)
end
local granted = 0
if op == 'record' and state == 'closed' then
  local failed = ARGV[14] == '1'
  if mode == 'consecutive' then
    local c = 0
    if failed then c = redis.call('HINCRBY', h, 'cons', 1) else redis.call('HSET', h, 'cons', 0) end
    if c >= consN then open(false) end
  elseif ARGV[16] == 'count' then
    local size = tonumber(ARGV[17])
    local ring = (redis.call('HGET', h, 'ring') or '') .. (failed and '1' or '0')
    if #ring > size then ring = string.sub(ring, -size) end
    redis.call('HSET', h, 'ring', ring)
    local total = #ring
    local fails = total - #(string.gsub(ring, '1', ''))
    if failed and total >= minT and fails / total >= rate then open(false) end
  else
    local b = math.floor(now / (windowMs / 10))
    redis.call('HINCRBY', h, 't:' .. b, 1)
    if failed then redis.call('HINCRBY', h, 'f:' .. b, 1) end
    local total, fails = 0, 0
    local fields = redis.call('HGETALL', h)
    for i = 1, #fields, 2 do
      local kind = string.sub(fields[i], 1, 2)
      if kind == 't:' or kind == 'f:' then
        local nb = tonumber(string.sub(fields[i], 3))
        if nb <= b - 10 then
          redis.call('HDEL', h, fields[i])
        elseif kind == 't:' then
          total = total + tonumber(fields[i + 1])
        else
          fails = fails + tonumber(fields[i + 1])
        end
      end
    end
    if failed and total >= minT and fails / total >= rate then open(false) end
  end
elseif op == 'acquire' and state == 'half_open' then
  redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
  if redis.call('ZCARD', z) < probes then
    redis.call('ZADD', z, now + probeTtl, ARGV[14])
    redis.call('PEXPIRE', z, math.max(probeTtl, ttl))
    granted = 1
  end
elseif op == 'settle' and state == 'half_open' then
  if redis.call('ZREM', z, ARGV[14]) == 1 then
    if ARGV[15] == 'failure' then
      open(true)
    elseif ARGV[15] == 'success' then
      if redis.call('HINCRBY', h, 'succ', 1) >= succN then
        redis.call('DEL', h, z)
        state = 'closed'
        openDur = openMs
        redis.call('HSET', h, 'openDur', openDur)
      end
    end
  end
end
redis.call('HSET', h, 'state', state)
redis.call('PEXPIRE', h, math.max(ttl, maxOpen * 2))
local openFor = 0
if state == 'open' then openFor = openUntil - now end
return {state, tostring(openFor), granted}`;

/** KEYS: budget. ARGV: delta, max, ttl. */
const BUDGET = `local v = tonumber(redis.call('GET', KEYS[1]) or ARGV[2])
local max = tonumber(ARGV[2])
v = math.max(0, math.min(max, v + tonumber(ARGV[1])))
redis.call('SET', KEYS[1], v, 'PX', ARGV[3])
return v`;

/** KEYS: headroom. ARGV: data, ageMs, blockedForMs, ttl. */
const HEADROOM_PUT = `${NOW}
local obs = now - tonumber(ARGV[2])
local r = redis.call('HMGET', KEYS[1], 'data', 'obs', 'blocked', 'cr', 'ci')
local oldObs = tonumber(r[2] or '-1e15')
local blocked = math.max(tonumber(r[3] or '0'), now + tonumber(ARGV[3]))
if obs >= oldObs then
  local fresh = cjson.decode(ARGV[1])
  local old = {}
  if r[1] then old = cjson.decode(r[1]) end
  local falls = {}
  for name, f in pairs(fresh) do
    local o = old[name]
    if o ~= nil and math.abs(obs + f.resetInMs - (oldObs + o.resetInMs)) < 1000 then
      -- The same window: remaining only falls within one, so a higher value is an older
      -- observation that arrived late. The fall is what the server counted of the claims.
      local fall = math.max(0, o.remaining - f.remaining)
      if fall == 0 then
        o.resetInMs = oldObs + o.resetInMs - obs
        fresh[name] = o
      end
      falls[name] = fall
    end
  end
  local cr, ci = 0, 0
  if falls['requests'] ~= nil then cr = math.max(0, tonumber(r[4] or '0') - falls['requests']) end
  if falls['input_tokens'] ~= nil then ci = math.max(0, tonumber(r[5] or '0') - falls['input_tokens']) end
  redis.call('HSET', KEYS[1], 'data', cjson.encode(fresh), 'obs', obs, 'cr', cr, 'ci', ci)
end
redis.call('HSET', KEYS[1], 'blocked', blocked)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`;

/** KEYS: headroom. */
const HEADROOM_GET = `${NOW}
local r = redis.call('HMGET', KEYS[1], 'data', 'obs', 'blocked')
if not r[1] then return false end
return {r[1], tostring(now - tonumber(r[2])), tostring(math.max(0, tonumber(r[3] or '0') - now))}`;

/**
 * KEYS: headroom. ARGV: refill, requests, input tokens, ttl. The model is `Headroom`'s
 * (src/policies/throttle.ts), with the fleet's claims since the observation (`cr`, `ci`) as the
 * reservations: before the reset, `remaining` (for `continuous`, refilled linearly to the limit by
 * the reset) less the claims; from the reset, full less the claims draining at the limit per minute.
 */
const HEADROOM_CLAIM = `${NOW}
local r = redis.call('HMGET', KEYS[1], 'data', 'obs', 'blocked', 'cr', 'ci')
if not r[1] then return {1, '0', ''} end
local blocked = tonumber(r[3] or '0')
if blocked > now then return {0, tostring(blocked - now), 'retry_after'} end
local data = cjson.decode(r[1])
local obs = tonumber(r[2])
local continuous = ARGV[1] == 'continuous'
local function rate(res, resetAt)
  local span = resetAt - obs
  if span > 0 then return math.max(0, res.limit - res.remaining) / span end
  return res.limit / 60000
end
local function available(res, claimed)
  local resetAt = obs + res.resetInMs
  if now >= resetAt then
    if res.limit == nil then return math.huge end
    return math.min(res.limit, res.limit - claimed + res.limit / 60000 * (now - resetAt))
  end
  if res.limit == nil or not continuous then return res.remaining - claimed end
  return math.min(res.limit, res.remaining + rate(res, resetAt) * (now - obs)) - claimed
end
local function waitFor(res, need, claimed)
  local resetAt = obs + res.resetInMs
  if res.limit == nil then return math.max(1, resetAt - now) end
  local afterReset = resetAt + math.max(0, need + claimed - res.limit) / res.limit * 60000
  if now >= resetAt or not continuous then return math.max(1, afterReset - now) end
  local ra = rate(res, resetAt)
  local target = need + claimed
  if ra <= 0 or target > res.limit then return math.max(1, afterReset - now) end
  return math.max(1, math.min(obs + (target - res.remaining) / ra, afterReset) - now)
end
local cr = tonumber(r[4] or '0')
local ci = tonumber(r[5] or '0')
local wait, which = 0, ''
local checks = {{'requests', tonumber(ARGV[2]), cr}, {'input_tokens', tonumber(ARGV[3]), ci}, {'tokens', tonumber(ARGV[3]), ci}}
for _, c in ipairs(checks) do
  local res = data[c[1]]
  if res ~= nil then
    local need = c[2]
    if res.limit ~= nil and need > res.limit then need = res.limit end
    if available(res, c[3]) < need then
      local w = waitFor(res, need, c[3])
      if w > wait then wait, which = w, c[1] end
    end
  end
end
if wait > 0 then return {0, tostring(wait), which} end
redis.call('HINCRBY', KEYS[1], 'cr', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'ci', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, '0', ''}`;

/**
 * KEYS: entry, index (sorted set: entry name by expiry), sizes (hash: entry name → bytes), total.
 * ARGV: value, ttl, bucket bound in bytes, entry name, entry key prefix. Stores the entry, drops the
 * bucket's entries that expired, then those that expire first until the bucket is within its bound.
 */
const CACHE_SET = `${NOW}
local size = #ARGV[1]
local max = tonumber(ARGV[3])
if size > max then return 0 end
local z, h, t = KEYS[2], KEYS[3], KEYS[4]
local name = ARGV[4]
local total = tonumber(redis.call('GET', t) or '0')
local gone = redis.call('ZRANGEBYSCORE', z, '-inf', now)
for _, n in ipairs(gone) do
  total = total - tonumber(redis.call('HGET', h, n) or '0')
  redis.call('HDEL', h, n)
end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', now) end
local old = redis.call('HGET', h, name)
if old then total = total - tonumber(old) end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', z, now + ttl, name)
redis.call('HSET', h, name, size)
total = total + size
local evicted = 0
while total > max do
  local first = redis.call('ZRANGE', z, 0, 1)
  local victim = first[1]
  if victim == name then victim = first[2] end
  if victim == nil then break end
  total = total - tonumber(redis.call('HGET', h, victim) or '0')
  redis.call('HDEL', h, victim)
  redis.call('ZREM', z, victim)
  redis.call('DEL', ARGV[5] .. victim)
  evicted = evicted + 1
end
if total < 0 then total = 0 end
local last = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
local keep = math.max(ttl, tonumber(last[2] or '0') - now) + 1000
redis.call('SET', t, total, 'PX', keep)
redis.call('PEXPIRE', z, keep)
redis.call('PEXPIRE', h, keep)
return 1 + evicted`;

interface Scripts {
  claudeOtelCacheSet(...args: Array<string | number>): Promise<number>;
  claudeOtelHeadroomClaim(...args: Array<string | number>): Promise<[number, string, string]>;
  claudeOtelBreaker(...args: Array<string | number>): Promise<[string, string, number]>;
  claudeOtelBudget(...args: Array<string | number>): Promise<number>;
  claudeOtelHeadroomPut(...args: Array<string | number>): Promise<number>;
  claudeOtelHeadroomGet(...args: Array<string | number>): Promise<[string, string, string] | null>;
}

function isState(value: string): value is FleetBreakerView['state'] {
  return value === 'closed' || value === 'open' || value === 'half_open';
}

export class RedisFleetStore implements FleetStore {
  readonly kind = 'redis';
  /** The client in use. */
  readonly client: Redis | Cluster;
  readonly #owned: boolean;
  readonly #prefix: string;
  /** The prefix as it may appear inside a hash tag. */
  readonly #tag: string;
  readonly #ttlMs: number;
  readonly #maxValueBytes: number;
  readonly #bucketBytes: number;

  /** @throws TypeError for an invalid option. */
  constructor(options: RedisFleetStoreOptions = {}) {
    this.#prefix = options.prefix ?? 'claude-otel:';
    if (typeof this.#prefix !== 'string') throw new TypeError('store prefix must be a string');
    this.#ttlMs = Math.round(positiveNumber('store.ttlMs', options.ttlMs, 3_600_000));
    this.#maxValueBytes = positiveNumber('store.maxValueBytes', options.maxValueBytes, 1024 * 1024);
    this.#bucketBytes = Math.floor(
      positiveNumber('store.maxCacheBytes', options.maxCacheBytes, 64 * 1024 * 1024) / CACHE_BUCKETS,
    );
    this.#tag = this.#prefix.replace(/[{}]/g, '_');
    this.#owned = options.client === undefined;
    this.client =
      options.client ??
      new Redis(options.url ?? 'redis://127.0.0.1:6379', {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        connectTimeout: 1000,
        retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
        ...options.redisOptions,
      });
    // Errors surface through the commands (and the guard); an unhandled 'error' event would crash.
    this.client.on('error', () => undefined);
    this.client.defineCommand('claudeOtelBreaker', { numberOfKeys: 2, lua: BREAKER });
    this.client.defineCommand('claudeOtelBudget', { numberOfKeys: 1, lua: BUDGET });
    this.client.defineCommand('claudeOtelHeadroomPut', { numberOfKeys: 1, lua: HEADROOM_PUT });
    this.client.defineCommand('claudeOtelHeadroomGet', { numberOfKeys: 1, lua: HEADROOM_GET });
    this.client.defineCommand('claudeOtelHeadroomClaim', { numberOfKeys: 1, lua: HEADROOM_CLAIM });
    this.client.defineCommand('claudeOtelCacheSet', { numberOfKeys: 4, lua: CACHE_SET });
  }

  /** The Redis key of `operation`'s data of `key` (the first of a script's keys). */
  #keyOf(operation: Exclude<StoreOperation, 'probe'>, key: string): string {
    switch (operation) {
      case 'breaker':
        return this.#breakerKey(key);
      case 'budget':
        return `${this.#prefix}budget:${key}`;
      case 'headroom':
        return `${this.#prefix}headroom:${key}`;
      case 'cache':
        return this.#cacheKeys(key).entry;
    }
  }

  #breakerKey(key: string): string {
    // A hash tag: the hash and its probes set are one script's keys, so in a Redis Cluster they
    // must share a slot.
    return `${this.#prefix}breaker:{${key.replace(/[{}]/g, '_')}}`;
  }

  #cacheKeys(key: string): { entry: string; index: string; sizes: string; total: string; base: string } {
    // One of 16 buckets, each its own hash tag (so its entries and index share a slot, and the
    // buckets spread over the masters); the prefix is in the tag so that apps sharing a cluster
    // do not all use the same 16 slots.
    const base = `${this.#prefix}cache:{${this.#tag}${crc16(key) % CACHE_BUCKETS}}:`;
    return {
      entry: `${base}e:${key}`,
      index: `${base}index`,
      sizes: `${base}sizes`,
      total: `${base}total`,
      base: `${base}e:`,
    };
  }

  /**
   * The shard holding `operation`'s data of `key`: for a `Cluster`, the master serving the key's
   * slot (`host:port`, from the client's slot map; `''` while it is not known); else `''`.
   */
  shardOf(operation: Exclude<StoreOperation, 'probe'>, key: string): string {
    if (!this.client.isCluster) return '';
    const slots = (this.client as Cluster).slots;
    return slots[keySlot(this.#keyOf(operation, key))]?.[0] ?? '';
  }

  /** A read-only check that the shard holding `key` answers (`EXISTS` of its key). */
  async probe(operation: Exclude<StoreOperation, 'probe'>, key: string): Promise<void> {
    await this.client.exists(this.#keyOf(operation, key));
  }

  get #scripts(): Scripts {
    return this.client as unknown as Scripts;
  }

  /**
   * Resolves once the client is connected and the scripts are loaded (rejects after `timeoutMs`):
   * optional, it spares the first calls the connection and script loading.
   */
  async ready(timeoutMs = 5000): Promise<void> {
    if (this.client.status !== 'ready') await this.#connected(timeoutMs);
    const nodes = this.client.isCluster ? (this.client as Cluster).nodes('master') : [this.client as Redis];
    for (const node of nodes) {
      for (const script of [BREAKER, BUDGET, HEADROOM_PUT, HEADROOM_GET, HEADROOM_CLAIM, CACHE_SET]) {
        await node.script('LOAD', script);
      }
    }
  }

  async #connected(timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.client.off('ready', onReady);
        reject(new Error(`redis not ready after ${timeoutMs} ms (status ${this.client.status})`));
      }, timeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.client.once('ready', onReady);
    });
  }

  async #breaker(
    op: 'view' | 'record' | 'acquire' | 'settle',
    key: string,
    c: FleetBreakerConfig,
    arg = '',
    arg2 = '',
  ): Promise<{ view: FleetBreakerView; granted: boolean }> {
    const hash = this.#breakerKey(key);
    const [state, openFor, granted] = await this.#scripts.claudeOtelBreaker(
      hash,
      `${hash}:probes`,
      op,
      c.mode,
      c.consecutiveFailures,
      c.failureRateThreshold,
      c.minimumThroughput,
      c.windowMs,
      c.openMs,
      c.openBackoffMultiplier,
      c.maxOpenMs,
      c.halfOpenProbes,
      c.successThreshold,
      c.probeTtlMs,
      this.#ttlMs,
      arg,
      arg2,
      c.windowKind,
      c.windowSize,
    );
    if (!isState(state)) throw new Error(`unexpected breaker state from redis: ${String(state)}`);
    return { view: { state, openForMs: Math.max(0, Number(openFor) || 0) }, granted: granted === 1 };
  }

  async breakerView(key: string, config: FleetBreakerConfig): Promise<FleetBreakerView> {
    return (await this.#breaker('view', key, config)).view;
  }

  async breakerRecord(key: string, failed: boolean, config: FleetBreakerConfig): Promise<FleetBreakerView> {
    return (await this.#breaker('record', key, config, failed ? '1' : '0')).view;
  }

  breakerAcquireProbe(key: string, owner: string, config: FleetBreakerConfig): Promise<ProbeGrant> {
    return this.#breaker('acquire', key, config, owner);
  }

  async breakerSettleProbe(
    key: string,
    owner: string,
    outcome: 'success' | 'failure' | 'ignore',
    config: FleetBreakerConfig,
  ): Promise<FleetBreakerView> {
    return (await this.#breaker('settle', key, config, owner, outcome)).view;
  }

  async budgetAdd(name: string, deltaMilli: number, maxMilli: number): Promise<number> {
    const value = await this.#scripts.claudeOtelBudget(
      `${this.#prefix}budget:${name}`,
      Math.round(deltaMilli),
      Math.round(maxMilli),
      this.#ttlMs,
    );
    return Number(value);
  }

  async headroomPut(key: string, snapshot: HeadroomSnapshot): Promise<void> {
    await this.#scripts.claudeOtelHeadroomPut(
      `${this.#prefix}headroom:${key}`,
      JSON.stringify(snapshot.resources),
      Math.round(snapshot.ageMs),
      Math.round(snapshot.blockedForMs),
      this.#ttlMs,
    );
  }

  async headroomGet(key: string): Promise<HeadroomSnapshot | undefined> {
    const r = await this.#scripts.claudeOtelHeadroomGet(`${this.#prefix}headroom:${key}`);
    if (r === null || !Array.isArray(r)) return undefined;
    const resources = JSON.parse(r[0]) as HeadroomSnapshot['resources'];
    return { resources, ageMs: Math.max(0, Number(r[1]) || 0), blockedForMs: Math.max(0, Number(r[2]) || 0) };
  }

  async headroomClaim(
    key: string,
    cost: HeadroomCost,
    refill: 'continuous' | 'at_reset',
  ): Promise<HeadroomClaim> {
    const [granted, wait, resource] = await this.#scripts.claudeOtelHeadroomClaim(
      `${this.#prefix}headroom:${key}`,
      refill,
      Math.max(0, Math.round(cost.requests)),
      Math.max(0, Math.round(cost.inputTokens)),
      this.#ttlMs,
    );
    return {
      granted: granted === 1,
      waitMs: Math.max(0, Number(wait) || 0),
      resource: resource === '' ? undefined : resource,
    };
  }

  async cacheGet(key: string): Promise<StoredResponse | undefined> {
    const raw = await this.client.get(this.#cacheKeys(key).entry);
    if (raw === null) return undefined;
    const v = JSON.parse(raw) as Omit<StoredResponse, 'ageMs'> & { at: number };
    return { status: v.status, headers: v.headers, body: v.body, ageMs: Math.max(0, Date.now() - v.at) };
  }

  async cacheSet(key: string, value: Omit<StoredResponse, 'ageMs'>, ttlMs: number): Promise<void> {
    if (Buffer.byteLength(value.body) > this.#maxValueBytes) return;
    const json = JSON.stringify({
      status: value.status,
      headers: value.headers,
      body: value.body,
      at: Date.now(),
    });
    const k = this.#cacheKeys(key);
    await this.#scripts.claudeOtelCacheSet(
      k.entry,
      k.index,
      k.sizes,
      k.total,
      json,
      Math.max(1, Math.round(ttlMs)),
      this.#bucketBytes,
      key,
      k.base,
    );
  }

  async close(): Promise<void> {
    if (!this.#owned) return;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}
