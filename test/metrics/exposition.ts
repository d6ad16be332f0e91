/**
 * Validating Prometheus text exposition with Prometheus's own parser:
 * `promtool check metrics` (Debian's `prometheus` package; CI installs it).
 * Without promtool a local run skips this part and says so; under CI its
 * absence fails.
 */
import { spawnSync } from 'node:child_process';

/** True when `promtool` runs here. */
export function havePromtool(): boolean {
  const r = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

/**
 * Runs `promtool check metrics` on `text`: returns its problems (parse errors
 * and lint findings), '' when it accepts the text.
 */
export function promtoolProblems(text: string): string {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  return r.status === 0 ? '' : `${r.stdout}${r.stderr}`.trim() || `promtool exited with ${r.status}`;
}

/** Whether the promtool checks must run (CI) or may be skipped (a machine without it). */
export function promtoolRequired(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}
