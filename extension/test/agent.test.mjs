import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarize } from '../content/agent.js';

test('the toast says how many faces were cloaked', () => {
  assert.equal(summarize([{ found: 1, cloaked: 1 }]), 'FaceCloak cloaked your photo: 1 face.');
  assert.equal(summarize([{ found: 3, cloaked: 1 }, null, { found: 1, cloaked: 1 }]), 'FaceCloak cloaked your 2 photos: 2 faces (2 other faces left as they are).');
  assert.match(summarize([{ found: 2, cloaked: 0 }]), /2 faces found, none of them yours/);
  assert.match(summarize([{ found: 0, cloaked: 0 }]), /no face found/);
});
