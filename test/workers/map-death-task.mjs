// piscina task for test/shm/map-thread-death.test.ts: runs map-death-run.mjs
// (parks inside a write at the named point; the test aborts the task).
import { runOps } from './map-death-run.mjs';

export default function (d) {
  return runOps(d);
}
