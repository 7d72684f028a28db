/**
 * The CommonJS side of the package, written into `dist/` after `tsc`: the package is ESM, and
 * `require('claude-otel-middleware')` loads that same ES module (Node.js >= 22.12 `require()`s ESM
 * without top-level await), so CommonJS and ESM users share one module instance (no dual-package
 * hazard). What this writes:
 *
 * - for each entry point, a `.cjs` file that `require()`s the `.js` one, with a clear error on a
 *   Node.js that cannot (before 22.12) — `register` alone is ESM-only (it awaits the SDK's start)
 *   and its `.cjs` says how to load it instead;
 * - `.d.cts` twins of every `.d.ts` (relative imports pointing at `.cjs`), so TypeScript's
 *   `node16`/`nodenext` resolution from a CommonJS file sees CommonJS types for the `require`
 *   condition.
 *
 * Run by `npm run build`.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's entry points (`exports` subpaths) as paths under `dist/` without the extension. */
export const ENTRIES = ['index', 'testing/index', 'redis', 'setup', 'register'] as const;

function* declarationFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* declarationFiles(path);
    else if (name.endsWith('.d.ts')) yield path;
  }
}

/** `.d.ts` text to its `.d.cts` twin: relative `./x.js` specifiers become `./x.cjs`. */
export function toCts(text: string): string {
  return text.replace(/((?:from|import\()\s*)(['"])(\.{1,2}\/[^'"]+?)\.js\2/g, '$1$2$3.cjs$2');
}

/** The `.cjs` file of an entry point (`index`, `testing/index`, …). */
export function cjsEntry(entry: string): string {
  if (entry === 'register') return REGISTER_CJS;
  const specifier =
    entry === 'index' ? 'claude-otel-middleware' : `claude-otel-middleware/${entry.replace(/\/index$/, '')}`;
  const base = entry.split('/').pop();
  return `'use strict';
// CommonJS entry of ${specifier}: the ES module itself, loaded by require() (Node.js >= 22.12).
try {
  module.exports = require('./${base}.js');
} catch (error) {
  if (error && error.code === 'ERR_REQUIRE_ESM') {
    throw new Error(
      '${specifier} is an ES module; require() of it needs Node.js >= 22.12 (this is ' +
        process.version +
        "). Upgrade Node.js, or load it with import('${specifier}').",
      { cause: error },
    );
  }
  throw error;
}
`;
}

const REGISTER_CJS = `'use strict';
// claude-otel-middleware/register awaits the OpenTelemetry SDK's start (top-level await), so it cannot be require()d.
throw new Error(
  'claude-otel-middleware/register is an ES module that cannot be loaded with require() or --require: ' +
    'start your app with  node --import claude-otel-middleware/register app.js  (CommonJS apps too), ' +
    "or call setup() from require('claude-otel-middleware/setup').",
);
`;

const REGISTER_DCTS = `/**
 * \`claude-otel-middleware/register\` cannot be \`require()\`d (it awaits the OpenTelemetry SDK's start):
 * run \`node --import claude-otel-middleware/register app.js\`, or call \`setup()\` from
 * \`claude-otel-middleware/setup\`.
 */
export {};
`;

/** Writes the CommonJS entry points and `.d.cts` twins into `dist` (a folder `tsc` built). */
export function writeCjs(dist: string): { entries: number; declarations: number } {
  let count = 0;
  for (const path of declarationFiles(dist)) {
    const target = path.replace(/\.d\.ts$/, '.d.cts');
    const text = relative(dist, path) === 'register.d.ts' ? REGISTER_DCTS : toCts(readFileSync(path, 'utf8'));
    writeFileSync(target, text);
    count++;
  }
  for (const entry of ENTRIES) {
    writeFileSync(join(dist, `${entry}.cjs`), cjsEntry(entry));
  }
  return { entries: ENTRIES.length, declarations: count };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const written = writeCjs(fileURLToPath(new URL('../dist/', import.meta.url)));
  console.log(`dist/: ${written.entries} CommonJS entry points, ${written.declarations} .d.cts declarations`);
}
