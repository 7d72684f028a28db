import { describe, expect, it } from 'vitest';
import { parseCli, UsageError } from '../../src/cli/args.js';

describe('CLI arguments', () => {
  it('demo defaults: the tour scenario, its own duration, 4 in flight, seed 1, fake API', () => {
    expect(parseCli(['demo'])).toEqual({
      command: 'demo',
      scenario: 'tour',
      duration: undefined,
      concurrency: 4,
      seed: 1,
      real: false,
    });
  });

  it('demo flags are read and typed', () => {
    expect(
      parseCli(['demo', '--scenario', 'outage', '--duration', '2.5', '--concurrency', '8', '--seed', '42']),
    ).toMatchObject({ scenario: 'outage', duration: 2.5, concurrency: 8, seed: 42, real: false });
    expect(parseCli(['demo', '--duration=3'])).toMatchObject({ duration: 3 });
  });

  it('--real lowers the default concurrency and refuses a scenario', () => {
    expect(parseCli(['demo', '--real'])).toMatchObject({ real: true, concurrency: 2 });
    expect(() => parseCli(['demo', '--real', '--scenario', 'outage'])).toThrow(UsageError);
  });

  it.each([
    [['demo', '--duration', '0'], /--duration must be a positive number/],
    [['demo', '--duration', 'abc'], /--duration must be a positive number/],
    [['demo', '--concurrency', '0'], /--concurrency must be an integer ≥ 1/],
    [['demo', '--concurrency', '1.5'], /--concurrency must be an integer ≥ 1/],
    [['demo', '--seed=-1'], /--seed must be an integer ≥ 0/],
    [['demo', '--bogus'], /bogus/],
    [['demo', '--duration'], /duration/],
    [['demo', 'extra'], /extra/],
    [['chaos', '--upstream', 'ftp://example.com'], /--upstream must be an http\(s\) URL/],
    [['chaos', '--upstream', 'not a url'], /--upstream must be an http\(s\) URL/],
    [['chaos', '--port', '70000'], /--port must be ≤ 65535/],
    [['chaos', '--verbose', '--quiet'], /exclude each other/],
    [['launch'], /unknown command "launch"/],
  ])('%j is a UsageError naming the argument', (argv, message) => {
    let error: unknown;
    try {
      parseCli(argv);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(message);
  });

  it('chaos defaults and flags', () => {
    expect(parseCli(['chaos'])).toEqual({
      command: 'chaos',
      scenario: 'flaky',
      upstream: undefined,
      host: '127.0.0.1',
      port: 8787,
      seed: 1,
      region: 'primary',
      verbose: false,
      quiet: false,
    });
    expect(
      parseCli(['chaos', '--upstream', 'https://api.anthropic.com', '--port', '0', '--scenario', 'x.yaml']),
    ).toMatchObject({ upstream: 'https://api.anthropic.com', port: 0, scenario: 'x.yaml' });
  });

  it('help and version', () => {
    expect(parseCli([])).toEqual({ command: 'help', topic: undefined });
    expect(parseCli(['--help'])).toEqual({ command: 'help', topic: undefined });
    expect(parseCli(['help', 'chaos'])).toEqual({ command: 'help', topic: 'chaos' });
    expect(parseCli(['demo', '-h'])).toEqual({ command: 'help', topic: 'demo' });
    expect(parseCli(['--version'])).toEqual({ command: 'version' });
  });
});
