import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter } from '../src/ratelimit.js';

test('a burst up to capacity, then refill at the rate, per key', () => {
  let t = 0;
  const rl = new RateLimiter({ capacity: 3, perMinute: 6, now: () => t });
  assert.deepEqual([1, 2, 3, 4].map(() => rl.take('tab1')), [true, true, true, false]);
  assert.equal(rl.take('tab2'), true, 'another tab has its own bucket');
  t += 9999;
  assert.equal(rl.take('tab1'), false, 'one token needs 10 s');
  t += 1;
  assert.equal(rl.take('tab1'), true);
  t += 10 * 60000;
  assert.deepEqual([1, 2, 3, 4].map(() => rl.take('tab1')), [true, true, true, false], 'never above capacity');
  rl.forget('tab1');
  assert.equal(rl.take('tab1'), true);
});
