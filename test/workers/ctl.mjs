// Choreography helpers for test workers: phases in a shared Int32Array,
// waited on with Atomics.wait (never a sleep). Every wait is bounded so a
// missing party fails the test instead of hanging it.

/** Stores `value` at words[i] and wakes every waiter on it. */
export function signal(words, i, value) {
  Atomics.store(words, i, value);
  Atomics.notify(words, i);
}

/** Waits until words[i] >= value (phases only move forward). */
export function waitUntil(words, i, value, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = Atomics.load(words, i);
    if (seen >= value) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`waitUntil: word ${i} still ${seen} < ${value} after ${timeoutMs} ms`);
    Atomics.wait(words, i, seen, left);
  }
}

/** A plain object describing an error, for posting back to the test. */
export function describeError(e) {
  if (e === undefined) return undefined;
  return { name: e?.name, code: e?.code, message: String(e?.message ?? e), isTypeError: e instanceof TypeError };
}
