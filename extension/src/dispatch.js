// The service worker's one door: a message {action, args} from a sender we
// recognise, to an action in the table that this kind of sender may use,
// with arguments that pass the action's schema. Everything else is refused
// with an error reply; nothing throws out of here.

import { FcError, toWire } from './errors.js';
import { checkArgs, isPlainObject } from './validate.js';
import { hostFromUrl } from './sites.js';

/**
 * Who sent a message: {kind: 'page'} for the extension's own pages,
 * {kind: 'content', tabId, frameId, frameHost, topHost} for our content
 * script in a web page, or null for anything else (another extension, a
 * page of ours with a foreign origin, a sender without a tab).
 */
export function classifySender(sender, { extensionId, extensionOrigin }) {
  if (!sender || typeof sender !== 'object' || sender.id !== extensionId) return null;
  const url = typeof sender.url === 'string' ? sender.url : '';
  const origin = typeof sender.origin === 'string' ? sender.origin : undefined;
  if (url.startsWith(extensionOrigin + '/')) {
    if (origin !== undefined && origin !== extensionOrigin) return null;
    return { kind: 'page', url };
  }
  const tab = sender.tab;
  if (!tab || !Number.isInteger(tab.id) || tab.id < 0) return null;
  if (url.startsWith(extensionOrigin)) return null;
  // about:blank and srcdoc frames have the origin of their creator; prefer the origin.
  const frameHost = (origin && origin !== 'null' ? hostFromUrl(origin) : '') || hostFromUrl(url);
  if (!frameHost) return null;
  return {
    kind: 'content',
    tabId: tab.id,
    frameId: Number.isInteger(sender.frameId) ? sender.frameId : 0,
    frameHost,
    topHost: hostFromUrl(tab.url || ''),
  };
}

/**
 * Build the message handler. `actions` is the protocol table
 * (protocol.js), `handlers` maps each action to async (args, who) => result.
 * Every action must have a handler and every handler an action.
 */
export function createDispatcher({ actions, handlers, extensionId, extensionOrigin, log = () => {} }) {
  for (const name of Object.keys(actions)) {
    if (typeof handlers[name] !== 'function') throw new Error(`action ${name} has no handler`);
  }
  for (const name of Object.keys(handlers)) {
    if (!Object.hasOwn(actions, name)) throw new Error(`handler ${name} is not in the protocol`);
  }
  return async function handle(message, sender) {
    try {
      const who = classifySender(sender, { extensionId, extensionOrigin });
      if (!who) throw new FcError('forbidden', 'This sender may not talk to FaceCloak.');
      if (!isPlainObject(message) || typeof message.action !== 'string') {
        throw new FcError('bad_message', 'A message is {action, args}.');
      }
      for (const key of Object.keys(message)) {
        if (key !== 'action' && key !== 'args') throw new FcError('bad_message', `unexpected field ${key}`);
      }
      const { action } = message;
      if (!Object.hasOwn(actions, action)) throw new FcError('unknown_action', `unknown action ${action.slice(0, 40)}`);
      const spec = actions[action];
      if (!spec.from.includes(who.kind)) throw new FcError('forbidden', `${action} is not for this sender`);
      const args = checkArgs(spec.args, message.args);
      const result = await handlers[action](args, who);
      return { ok: true, result: result === undefined ? null : result };
    } catch (err) {
      const wire = toWire(err);
      if (wire.code === 'internal') log(err);
      return { ok: false, error: wire };
    }
  };
}
