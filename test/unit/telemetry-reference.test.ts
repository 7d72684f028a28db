import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  renderTelemetryReference,
  TAXONOMY_PAGE,
  TELEMETRY_PAGE,
  withTaxonomy,
  withTelemetryReference,
} from '../../scripts/telemetry-reference.js';
import { ATTRIBUTES, LOG_EVENTS, LOG_FIELDS, METRICS } from '../../src/telemetry/names.js';
import { VERSION } from '../../src/version.js';

const page = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('telemetry reference', () => {
  it(`in ${TELEMETRY_PAGE} equals the one generated from src/telemetry/names.ts (run \`npm run docs:telemetry\`)`, () => {
    const text = page(TELEMETRY_PAGE);
    expect(withTelemetryReference(text)).toBe(text);
  });

  it(`the taxonomy in ${TAXONOMY_PAGE} equals the one generated from classify.ts (run \`npm run docs:telemetry\`)`, () => {
    const text = page(TAXONOMY_PAGE);
    expect(withTaxonomy(text)).toBe(text);
  });

  it('names every attribute and metric exactly once in its table', () => {
    const firstColumns = renderTelemetryReference()
      .split('\n')
      .map((line) => /^\| `([^`]+)` \|/.exec(line)?.[1])
      .filter((name) => name !== undefined);
    for (const { name } of [...Object.values(ATTRIBUTES), ...Object.values(METRICS)]) {
      expect(
        firstColumns.filter((n) => n === name),
        name,
      ).toHaveLength(1);
    }
  });

  it('declares every field of a log event, and each log event once', () => {
    const declared = new Set([...Object.values(ATTRIBUTES), ...Object.values(LOG_FIELDS)].map((x) => x.name));
    for (const event of Object.values(LOG_EVENTS)) {
      for (const field of event.fields) expect(declared.has(field), `${event.name}: ${field}`).toBe(true);
    }
    const names = Object.values(LOG_EVENTS).map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    const logTable = renderTelemetryReference().split('#### Log events')[1] ?? '';
    for (const name of names) expect(logTable).toContain(`| \`${name}\` |`);
  });

  it('declares no name twice', () => {
    const names = [...Object.values(ATTRIBUTES), ...Object.values(METRICS), ...Object.values(LOG_FIELDS)].map(
      (x) => x.name,
    );
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('version', () => {
  it('equals package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(VERSION).toBe(pkg.version);
  });
});
