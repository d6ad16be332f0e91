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
  QueueRecovery,
} from './shm/patterns/delete-queue.js';
export { formatConflicts, formatConflict, countConflicts, CONFLICT_KINDS } from './race/report.js';
export type { FormatConflictsOptions } from './race/report.js';
export {
  parseHistory,
  toHistoryOp,
  formatHistory,
  formatHistoryLine,
  findThreadOverlap,
  canonicalJson,
  HistoryParseError,
  OP_ARITY,
} from './race/history.js';
export type { History, HistoryOp, HistoryOpName, HistoryKey, JsonValue } from './race/history.js';
export {
  checkLinearizability,
  checkLinearizabilitySync,
  checkKeyHistory,
  partitionByKey,
  DEFAULT_TIMEOUT_MS,
} from './race/linearizability.js';
export type {
  CheckOptions,
  CheckStatus,
  KeyCheckResult,
  KeyVerdict,
  LinearizabilityResult,
  Partition,
} from './race/linearizability.js';
export {
  formatTimeline,
  formatKeyResult,
  formatCheckReport,
  renderHtmlReport,
  formatOp,
  formatOpLabel,
  layoutTimeline,
} from './race/timeline.js';
export type { TimelineOptions, TimelineLayout, TimelineBar } from './race/timeline.js';
export { HistoryRecorder, decodeRecorded, mergeHistories, plainJson, PLAIN_CODING, REC_OP } from './race/recorder.js';
export type { RecordedOps, ValueCoding } from './race/recorder.js';
export { SharedMap } from './shm/map.js';
export { onThreadDeath, watchThreads } from './shm/watch.js';
export type { DeathHook, WorkerPoolLike } from './shm/watch.js';
export type { RecoverOptions, RecoveryReport, ShardRecovery, ThreadWatchOptions } from './shm/recover.js';
export { checkInvariants, dump } from './shm/debug.js';
export {
  startSweeper,
  createStopSwitch,
  requestStop,
  waitForStop,
  sweeperTotals,
  sharedNow,
} from './shm/patterns/ttl.js';
export type { SweeperOptions, StopSwitch, SweeperTotals } from './shm/patterns/ttl.js';
export { followConflicts } from './metrics/follow.js';
export type { FollowConflictsOptions, FollowStatus } from './metrics/follow.js';
export { AlertSender, alertOnConflicts } from './metrics/alerts.js';
export type { AlertSenderOptions, AlertStats, ConflictAlert } from './metrics/alerts.js';
export { watchConflicts } from './metrics/watch.js';
export type { WatchOptions, WatchSummary } from './metrics/watch.js';
export { NearCache } from './near-cache/near-cache.js';
export type { NearCacheOptions, NearCacheHandle, NearCacheStats, NearCacheMode } from './near-cache/near-cache.js';
