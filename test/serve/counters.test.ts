/**
 * The server's GC column counts the cleaner threads too. A cleaner parks on
 * Atomics.wait and never returns to its event loop, where a
 * PerformanceObserver would be called back; its pauses are recorded by v8's
 * GCProfiler instead and added to its row at each flush. Negative control:
 * in the same thread, over the same garbage, an observer has counted nothing
 * by the time the thread's synchronous work is done.
 */
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { distPath } from '../helpers/paths.js';

const counters = pathToFileURL(distPath('serve/counters.js')).href;

/** A thread that makes garbage without ever yielding to its event loop, then reads its own row in the same tick. */
function gcCountedWithoutEventLoop(how: 'profiler' | 'observer'): Promise<number> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.counters).then(({ ThreadCounters, createCounters, readCounters }) => {
      const buffer = createCounters();
      const c = new ThreadCounters(buffer, 'cleaner');
      if (workerData.how === 'profiler') c.profileGc(); else c.observeGc();
      let keep = [];
      for (let i = 0; i < 3e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 1e4) keep = []; }
      if (workerData.how === 'profiler') c.flushGc();
      const counted = readCounters(buffer).gcCount;
      if (workerData.how === 'profiler') c.stopGcProfiler(); else c.stopGcObserver();
      parentPort.postMessage(counted);
    });`;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { counters, how } });
    w.once('message', (n: number) => resolve(n));
    w.once('error', reject);
  });
}

describe('serve: GC pauses of a thread whose event loop never runs', () => {
  it('are counted by the GC profiler (cleaner threads), not by an observer', async () => {
    expect(await gcCountedWithoutEventLoop('profiler')).toBeGreaterThan(0);
    expect(await gcCountedWithoutEventLoop('observer')).toBe(0);
  });
});
