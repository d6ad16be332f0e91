/**
 * Captures what a command run in this process writes to stdout and stderr,
 * so a test of bad arguments asserts on the message instead of letting it
 * print into the test run's output.
 */
import { vi } from 'vitest';

export interface Captured<T> {
  result: T;
  stdout: string;
  stderr: string;
}

/** Runs `fn` with process.stdout.write and process.stderr.write captured; restores them even when `fn` throws. */
export async function captureOutput<T>(fn: () => T | Promise<T>): Promise<Captured<T>> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const result = await fn();
    return { result, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
