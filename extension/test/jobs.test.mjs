import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JobHub } from '../src/jobs.js';

const job = (state, percent) => ({ id: 'j1', state, percent, stage: 'optimise' });

/** A stream whose events are released one by one by the test. */
function gatedStream(events) {
  const gates = events.map(() => {
    let open;
    const p = new Promise((r) => { open = r; });
    return { p, open };
  });
  async function* stream() {
    for (let i = 0; i < events.length; i++) {
      await gates[i].p;
      yield events[i];
    }
  }
  return { stream, release: (i) => gates[i].open() };
}

test('next() answers as soon as the job moves, and at the end', async () => {
  const { stream, release } = gatedStream([
    { event: 'progress', data: JSON.stringify(job('running', 10)) },
    { event: 'progress', data: 'not json' },
    { event: 'end', data: JSON.stringify(job('done', 100)) },
  ]);
  const hub = new JobHub({ openStream: stream, getJob: async () => { throw new Error('no polling expected'); } });
  const first = hub.next('j1', 0, 5000);
  release(0);
  const s1 = await first;
  assert.equal(s1.job.percent, 10);
  assert.equal(s1.final, false);
  const second = hub.next('j1', s1.version, 5000);
  release(1);
  release(2);
  const s2 = await second;
  assert.equal(s2.job.state, 'done');
  assert.equal(s2.final, true);
  const again = await hub.next('j1', 0, 5000);
  assert.equal(again.final, true, 'a finished job answers at once');
});

test('a broken stream falls back to polling until the job ends', async () => {
  const polls = [job('running', 50), job('failed', 50)];
  const hub = new JobHub({
    openStream: async function* () { throw new Error('connection reset'); },
    getJob: async () => polls.shift(),
    pollMs: 5,
  });
  let snap = { version: 0, final: false };
  while (!snap.final) snap = await hub.next('j1', snap.version, 2000);
  assert.equal(snap.job.state, 'failed');
});

test('when the daemon is gone the watcher reports it and is forgotten', async () => {
  let calls = 0;
  const hub = new JobHub({
    openStream: async function* () { throw new Error('down'); },
    getJob: async () => { calls++; throw Object.assign(new Error('not running'), { code: 'unreachable' }); },
  });
  const snap = await hub.next('j1', 0, 2000);
  assert.deepEqual(snap.error, { code: 'unreachable', message: 'not running' });
  assert.equal(snap.final, false);
  await hub.next('j1', 0, 2000);
  assert.equal(calls, 2, 'a later next() tries again');
});

test('next() times out with the same version when nothing happens', async () => {
  const hub = new JobHub({ openStream: async function* () { await new Promise(() => {}); }, getJob: async () => job('running', 0) });
  const t0 = Date.now();
  const snap = await hub.next('j1', 0, 50);
  assert.equal(snap.version, 0);
  assert.ok(Date.now() - t0 >= 45);
});
