/**
 * `ioredis` is an optional peer dependency: only the `claude-otel-middleware/redis` entry point may
 * reach it. Walks the relative imports of the sources from each entry point.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');

/** The bare modules reachable from `entry` through relative imports (type-only imports skipped). */
function bareImports(entry: string): Set<string> {
  const seen = new Set<string>();
  const bare = new Set<string>();
  const queue = [resolve(SRC, entry)];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)'/gm)) {
      const spec = match[1] as string;
      if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else bare.add(spec);
    }
  }
  return bare;
}

describe('entry points', () => {
  it('the core and the testing entry never load ioredis; the redis entry does', () => {
    expect(bareImports('index.ts').has('ioredis')).toBe(false);
    expect(bareImports('testing/index.ts').has('ioredis')).toBe(false);
    expect(bareImports('redis.ts').has('ioredis')).toBe(true);
  });
});
