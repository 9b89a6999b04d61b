import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifySender, createDispatcher } from '../src/dispatch.js';
import { ACTIONS } from '../src/protocol.js';
import { createHandlers } from '../src/handlers.js';
import { FcError } from '../src/errors.js';
import { DoorError, makeSendMessage } from '../src/door.js';

const ID = 'abcdefghijklmnopabcdefghijklmnop';
const ORIGIN = `chrome-extension://${ID}`;
const env = { extensionId: ID, extensionOrigin: ORIGIN };

const pageSender = { id: ID, url: `${ORIGIN}/pages/options.html`, origin: ORIGIN };
const contentSender = {
  id: ID, url: 'https://m.facebook.com/photos', origin: 'https://m.facebook.com', frameId: 3,
  tab: { id: 12, url: 'https://www.facebook.com/' },
};

test('senders: our pages, our content scripts, nobody else', () => {
  assert.deepEqual(classifySender(pageSender, env), { kind: 'page', url: pageSender.url });
  assert.deepEqual(classifySender({ ...pageSender, tab: { id: 4, url: pageSender.url } }, env).kind, 'page', 'popup opened in a tab');
  assert.deepEqual(classifySender(contentSender, env), {
    kind: 'content', tabId: 12, frameId: 3, frameHost: 'm.facebook.com', topHost: 'www.facebook.com',
  });
  const blank = { id: ID, url: 'about:blank', origin: 'https://x.com', tab: { id: 1, url: 'https://x.com/' } };
  assert.equal(classifySender(blank, env).frameHost, 'x.com', 'about:blank frames take their origin');
  const rejected = [
    { ...pageSender, id: 'someotherextension' },
    { ...pageSender, origin: 'https://evil.example' },
    { ...contentSender, tab: undefined },
    { ...contentSender, tab: { id: -1 } },
    { id: ID, url: 'file:///tmp/x.html', tab: { id: 2 } },
    { id: ID, url: `chrome-extension://${'z'.repeat(32)}/x.html`, tab: { id: 2 } },
    null,
    'sender',
  ];
  for (const s of rejected) assert.equal(classifySender(s, env), null, JSON.stringify(s));
});

function dispatcher(handlers, actions = { ping: { from: ['page'], args: { n: { type: 'int', optional: true } } }, hello: { from: ['content'], args: {} } }) {
  return createDispatcher({ actions, handlers, ...env });
}

test('the table answers listed actions for their senders only', async () => {
  const seen = [];
  const handle = dispatcher({
    ping: async (args, who) => { seen.push([args, who.kind]); return { pong: args.n ?? 0 }; },
    hello: async (_args, who) => who.frameHost,
  });
  assert.deepEqual(await handle({ action: 'ping', args: { n: 2 } }, pageSender), { ok: true, result: { pong: 2 } });
  assert.deepEqual(await handle({ action: 'hello' }, contentSender), { ok: true, result: 'm.facebook.com' });
  const refusals = [
    [{ action: 'ping' }, contentSender, 'forbidden'],
    [{ action: 'hello' }, pageSender, 'forbidden'],
    [{ action: 'ping' }, { ...pageSender, id: 'other' }, 'forbidden'],
    [{ action: 'nope' }, pageSender, 'unknown_action'],
    [{ action: 'toString' }, pageSender, 'unknown_action'],
    [{ action: '__proto__' }, pageSender, 'unknown_action'],
    [{ action: 'constructor' }, pageSender, 'unknown_action'],
    [{ action: 'ping', args: { n: 'x' } }, pageSender, 'bad_args'],
    [{ action: 'ping', args: { m: 1 } }, pageSender, 'bad_args'],
    [{ action: 'ping', extra: 1 }, pageSender, 'bad_message'],
    [{ action: 5 }, pageSender, 'bad_message'],
    ['ping', pageSender, 'bad_message'],
    [null, pageSender, 'bad_message'],
    [[], pageSender, 'bad_message'],
  ];
  for (const [msg, sender, code] of refusals) {
    const reply = await handle(msg, sender);
    assert.equal(reply.ok, false, JSON.stringify(msg));
    assert.equal(reply.error.code, code, JSON.stringify(msg));
  }
  assert.equal(seen.length, 1, 'no refused message reached a handler');
});

test('handler errors travel as {code, message}; unexpected ones are masked', async () => {
  const logged = [];
  const handle = createDispatcher({
    actions: { a: { from: ['page'], args: {} }, b: { from: ['page'], args: {} } },
    handlers: {
      a: async () => { throw new FcError('unreachable', 'daemon down', { fail: 'open', status: 0, token: 'secret' }); },
      b: async () => { throw new TypeError('x is undefined at /secret/path'); },
    },
    ...env,
    log: (e) => logged.push(e),
  });
  assert.deepEqual(await handle({ action: 'a' }, pageSender), { ok: false, error: { code: 'unreachable', message: 'daemon down', status: 0, fail: 'open' } });
  const b = await handle({ action: 'b' }, pageSender);
  assert.equal(b.error.code, 'internal');
  assert.ok(!b.error.message.includes('secret'));
  assert.equal(logged.length, 1);
});

test('the table and the handlers must match', () => {
  assert.throws(() => dispatcher({ ping: async () => 1 }), /hello has no handler/);
  assert.throws(() => dispatcher({ ping: async () => 1, hello: async () => 1, extra: async () => 1 }), /extra is not in the protocol/);
});

test('the real protocol: every action has a handler, senders are only page or content', () => {
  const handlers = createHandlers({ daemon: {}, store: {}, tabLimiter: {}, globalLimiter: {}, jobs: {}, clientName: 'test' });
  assert.doesNotThrow(() => createDispatcher({ actions: ACTIONS, handlers, ...env }));
  for (const [name, spec] of Object.entries(ACTIONS)) {
    assert.ok(spec.from.length > 0 && spec.from.every((k) => k === 'page' || k === 'content'), name);
  }
  const contentActions = Object.keys(ACTIONS).filter((a) => ACTIONS[a].from.includes('content')).sort();
  assert.deepEqual(contentActions, ['cloak', 'site.state'], 'a web page\'s content script can ask for nothing else');
});

test('the door: results come back, refusals throw DoorError with the code', async () => {
  const handle = dispatcher({ ping: async (args) => ({ pong: args.n }), hello: async () => 1 });
  const send = makeSendMessage({ sendMessage: (msg) => handle(structuredClone(msg), pageSender) });
  assert.deepEqual(await send('ping', { n: 3 }), { pong: 3 });
  await assert.rejects(send('hello'), (e) => e instanceof DoorError && e.code === 'forbidden');
  await assert.rejects(send('ping', { n: 'x' }), (e) => e.code === 'bad_args');
  const broken = makeSendMessage({ sendMessage: async () => { throw new Error('Receiving end does not exist'); } });
  await assert.rejects(broken('ping'), (e) => e.code === 'no_reply');
  const silent = makeSendMessage({ sendMessage: async () => undefined });
  await assert.rejects(silent('ping'), (e) => e.code === 'no_reply');
});
