/**
 * shmap's public surface. Everything a user imports comes from here.
 */
export * from './shm/types.js';
export * from './shm/errors.js';
export {
  mutexLock,
  mutexTryLock,
  mutexUnlock,
  mutexOwner,
  seqWriteBegin,
  seqWriteEnd,
  seqReadBegin,
  seqReadValid,
  barrierWait,
  BARRIER_WORDS,
  semaphoreAcquire,
  semaphoreTryAcquire,
  semaphoreRelease,
} from './shm/sync.js';
export { DeleteQueue, runDrainLoop, MAX_QUEUE_CAPACITY, MAX_QUEUE_KEY_N } from './shm/patterns/delete-queue.js';
export type {
  DeleteQueueOptions,
  DeleteQueueHandle,
  DeleteQueueStats,
  Deletable,
  WaitResult,
  DrainLoopOptions,
  DrainLoopResult,
} from './shm/patterns/delete-queue.js';
export { formatConflicts, formatConflict, countConflicts, CONFLICT_KINDS } from './race/report.js';
export type { FormatConflictsOptions } from './race/report.js';
export { SharedMap } from './shm/map.js';
export { checkInvariants, dump } from './shm/debug.js';
