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
