import { describe, expect, it } from 'vitest';
import { countConflicts, formatConflict, formatConflicts } from '../../src/race/report.js';
import type { ConflictRecord } from '../../src/shm/types.js';

function record(kind: ConflictRecord['kind'], over: Partial<ConflictRecord> = {}): ConflictRecord {
  return {
    kind,
    time: Date.UTC(2025, 0, 2, 3, 4, 5, 678),
    shard: 5,
    detector: { thread: 3, op: 'iterate', key: 'k42', seqSeen: 40, seqNow: 42 },
    other: { thread: 4, op: 'set', key: 'k77', seq: 41 },
    ...over,
  };
}

describe('formatConflicts', () => {
  it('prints one Go-style block per record with both parties', () => {
    const text = formatConflict(record('concurrent map iteration and map write'), new Map([[3, 'worker 0']]));
    expect(text.split('\n')).toEqual([
      '==================',
      'WARNING: CONFLICT: concurrent map iteration and map write',
      'iterate by worker 0 (threadId 3):',
      '  key:   "k42"',
      '  shard: 5',
      '  seq:   seen 40, now 42',
      '  time:  2025-01-02T03:04:05.678Z',
      '',
      'Previous set by thread 4:',
      '  key:   "k77"',
      '  shard: 5',
      '  seq:   41',
      '==================',
    ]);
  });

  it('totals by kind and reports overflow', () => {
    const records = [
      record('concurrent map writes'),
      record('concurrent map writes', { other: { thread: 0, op: 'delete', key: '', seq: 7 } }),
      record('concurrent map read and map write'),
    ];
    const text = formatConflicts(records, { overflowed: 9 });
    expect(text.match(/^WARNING: CONFLICT: /gm)).toHaveLength(3);
    expect(text).toContain('Previous delete by main thread (threadId 0):\n  key:   (unknown)');
    expect(text).toMatch(/concurrent map writes\s+2\n/);
    expect(text).toMatch(/concurrent map read and map write\s+1\n/);
    expect(text).not.toMatch(/concurrent map iteration and map write\s+\d/);
    expect(text).toContain('Found 3 conflict(s); 9 more dropped because the conflict log was full');
    expect(countConflicts(records)).toEqual({
      'concurrent map writes': 2,
      'concurrent map read and map write': 1,
      'concurrent map iteration and map write': 0,
      'thread died holding a shard lock': 0,
    });
  });

  it('limits the blocks but counts every record', () => {
    const records = Array.from({ length: 5 }, () => record('concurrent map writes'));
    const text = formatConflicts(records, { limit: 2 });
    expect(text.match(/^WARNING: CONFLICT: /gm)).toHaveLength(2);
    expect(text).toContain('... 3 more conflict reports not shown');
    expect(text).toContain('Found 5 conflict(s); none dropped');
  });

  it('says so when the log is empty', () => {
    expect(formatConflicts([])).toBe('No conflicts recorded.');
    expect(formatConflicts([], { overflowed: 2 })).toContain('2 more dropped');
  });
});
