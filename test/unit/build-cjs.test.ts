/**
 * The CommonJS entry points written by `scripts/build-cjs.ts`, run by a real Node.js in a child
 * process against a tiny ES module package: `require()` gets the ES module's own exports; a Node.js
 * that cannot `require()` ESM gets a message saying what to do; `register` explains `--import`.
 * (The packed package itself is required by `scripts/pack-check.sh`.)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cjsEntry, toCts, writeCjs } from '../../scripts/build-cjs.js';

const dir = mkdtempSync(join(tmpdir(), 'cjs-entry-'));
writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
writeFileSync(join(dir, 'index.js'), 'export const answer = 42;\nexport function hello() { return "hi"; }\n');
writeFileSync(
  join(dir, 'index.d.ts'),
  "export { hello } from './hello.js';\nexport type { A } from '../a.js';\n",
);
mkdirSync(join(dir, 'testing'));
writeFileSync(join(dir, 'testing', 'index.js'), 'export const fake = true;\n');
writeFileSync(join(dir, 'testing', 'index.d.ts'), 'export declare const fake: boolean;\n');
writeFileSync(join(dir, 'register.d.ts'), 'export declare const otel: unknown;\n');
const written = writeCjs(dir);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(code: string, flags: string[] = []): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...flags, '-e', code], { cwd: dir, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('CommonJS entry points', () => {
  it('require() returns the ES module namespace (one instance with import)', () => {
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        "const m = require('./index.cjs'); import('./index.js').then((n) => console.log(m.answer, m.hello(), m === n || m.hello === n.hello))",
      ],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(out.trim()).toBe('42 hi true');
    expect(run("console.log(require('./testing/index.cjs').fake)").stdout.trim()).toBe('true');
  });

  it('a Node.js without require(esm) gets a message naming the version needed', () => {
    const r = run("require('./index.cjs')", ['--no-experimental-require-module']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(
      'claude-otel-middleware is an ES module; require() of it needs Node.js >= 22.12',
    );
    expect(r.stderr).toContain("import('claude-otel-middleware')");
  });

  it('register cannot be required and says to use --import', () => {
    const r = run("require('./register.cjs')");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('node --import claude-otel-middleware/register app.js');
    expect(readFileSync(join(dir, 'register.d.cts'), 'utf8')).toContain('export {};');
  });

  it('writes a .d.cts twin of each declaration with relative imports pointing at .cjs', () => {
    expect(written).toEqual({ entries: 5, declarations: 3 });
    expect(readFileSync(join(dir, 'index.d.cts'), 'utf8')).toBe(
      "export { hello } from './hello.cjs';\nexport type { A } from '../a.cjs';\n",
    );
    expect(toCts("import('./x.js'); from 'pkg/x.js'; from \"./y/z.js\"")).toBe(
      "import('./x.cjs'); from 'pkg/x.js'; from \"./y/z.cjs\"",
    );
    expect(cjsEntry('testing/index')).toContain("require('./index.js')");
    expect(cjsEntry('testing/index')).toContain('claude-otel-middleware/testing');
  });
});
