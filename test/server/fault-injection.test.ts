/**
 * The TEST-ONLY fault flags (a canary analysis is shown rolling back a bad version with them):
 * off by default, validated, named as test-only in `--help`.
 */
import { serveHelp } from '../../src/server/cli-help';
import { parseConfig } from '../../src/server/config';

test('off by default; --fault-error-ratio and --fault-delay-ms (or their variables) turn them on', () => {
  expect(parseConfig([], {}).faults).toBeUndefined();
  expect(parseConfig(['--fault-error-ratio', '0.25'], {}).faults).toEqual({ errorRatio: 0.25, delayMs: 0 });
  expect(parseConfig([], { FAULT_DELAY_MS: '40' }).faults).toEqual({ errorRatio: 0, delayMs: 40 });
  expect(parseConfig(['--fault-error-ratio=0', '--fault-delay-ms=0'], {}).faults).toBeUndefined();
});

test.each([['1.5'], ['-0.1'], ['half']])('--fault-error-ratio %s is refused, naming the flag', (value) => {
  expect(() => parseConfig(['--fault-error-ratio', value], {})).toThrow(`'--fault-error-ratio' (FAULT_ERROR_RATIO) (test only) must be a number from 0 to 1, got '${value}'`);
});

test('--help names both flags as test-only', () => {
  const help = serveHelp();
  for (const flag of ['--fault-error-ratio', '--fault-delay-ms']) {
    const line = help.split('\n').findIndex((l) => l.includes(flag));
    expect(line).toBeGreaterThanOrEqual(0);
    expect(help.split('\n').slice(line, line + 2).join(' ')).toContain('TEST-ONLY');
  }
});
