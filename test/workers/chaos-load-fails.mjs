// A chaos pool task file (test/stress/chaos.test.ts) whose threads fail while loading it once
// SHMAP_TEST_CHAOS_LOAD_FAILS=1 is in the environment they start with: the replacements piscina
// starts after kills then fail outside any task, which the pool reports as its 'error' event.
if (process.env.SHMAP_TEST_CHAOS_LOAD_FAILS === '1') throw new Error('this thread cannot load its task module (test)');
export { default } from '../../dist/workers/bundled/chaos.js';
