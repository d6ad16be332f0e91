// Receives a map handle through workerData.handle or, when that is absent,
// through its first message ({ handle }). Reads what the test wrote, writes
// its own key, creates a map of its own and posts that map's handle back.
import { workerData, parentPort, threadId } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';

function work(handle) {
  const map = SharedMap.attach(handle);
  const seen = map.get('from-test');
  map.set('from-worker', `hello from ${threadId}`);
  const own = SharedMap.create({ key: 'int32', value: 'string:16', capacity: 8, shards: 1 });
  own.set(7, 'seven');
  parentPort.postMessage({ threadId, seen, size: map.size, ownHandle: own.handle });
}

if (workerData?.handle) work(workerData.handle);
else parentPort.once('message', (m) => work(m.handle));
