/**
 * Vitest setup file: after each test, the metric readers still open are collected, and the test
 * fails when any span or metric point it produced held a secret (see `secrets.ts`). So every test
 * that uses the OTel harness (`otel.ts`) is part of the secret scan.
 */
import { afterEach, expect } from 'vitest';
import { liveReaders, scanReader } from './otel.js';
import { scanner } from './secrets.js';

afterEach(async () => {
  for (const reader of [...liveReaders]) await scanReader(reader).catch(() => undefined);
  expect(scanner.take(), 'secrets in exported telemetry').toEqual([]);
});
