/**
 * Rewrites the generated blocks of the docs: the telemetry reference in docs/telemetry.md (from
 * src/telemetry/names.ts) and the failure taxonomy in docs/resilience.md (from classify.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import {
  TAXONOMY_PAGE,
  TELEMETRY_PAGE,
  withTaxonomy,
  withTelemetryReference,
} from './telemetry-reference.js';

for (const [page, render] of [
  [TELEMETRY_PAGE, withTelemetryReference],
  [TAXONOMY_PAGE, withTaxonomy],
] as const) {
  const path = new URL(`../${page}`, import.meta.url);
  const before = readFileSync(path, 'utf8');
  const after = render(before);
  if (after !== before) {
    writeFileSync(path, after);
    console.log(`${page}: updated`);
  } else {
    console.log(`${page}: already current`);
  }
}
