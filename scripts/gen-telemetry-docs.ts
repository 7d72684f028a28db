/** Rewrites the telemetry reference in README.md from src/telemetry/names.ts. */
import { readFileSync, writeFileSync } from 'node:fs';
import { withReference } from './telemetry-reference.js';

const path = new URL('../README.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = withReference(before);
if (after !== before) {
  writeFileSync(path, after);
  console.log('README.md: telemetry reference updated');
} else {
  console.log('README.md: telemetry reference already current');
}
