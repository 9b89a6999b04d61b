import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser } from '../src/sse.js';

function parse(chunks) {
  const events = [];
  const p = new SseParser((e) => events.push(e));
  for (const c of chunks) p.push(c);
  p.end();
  return events;
}

test('events, multi-line data, comments', () => {
  const text = ': hello\nevent: progress\ndata: {"a":1}\n\ndata: x\ndata: y\n\nevent: end\ndata: {"state":"done"}\n\n';
  assert.deepEqual(parse([text]), [
    { event: 'progress', data: '{"a":1}' },
    { event: 'message', data: 'x\ny' },
    { event: 'end', data: '{"state":"done"}' },
  ]);
});

test('any chunking and any line ending give the same events', () => {
  const text = 'event: progress\r\ndata: 1\r\n\r\nevent: progress\rdata: 2\r\revent: end\ndata:3\n\n';
  const whole = parse([text]);
  assert.deepEqual(whole, [
    { event: 'progress', data: '1' }, { event: 'progress', data: '2' }, { event: 'end', data: '3' },
  ]);
  for (let size = 1; size < 8; size++) {
    const chunks = [];
    for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
    assert.deepEqual(parse(chunks), whole, `chunks of ${size}`);
  }
});

test('an event without its blank line is dropped at the end; no data, no event', () => {
  assert.deepEqual(parse(['event: progress\ndata: 1']), []);
  assert.deepEqual(parse(['event: progress\n\n']), []);
});
