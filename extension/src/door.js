// The one way the extension's pages and content script talk to the service
// worker: sendMessage(action, args) -> result, or a thrown DoorError with
// the refusal's code and message. See extension/PROTOCOL.md.

export class DoorError extends Error {
  constructor(code, message, details = {}) {
    super(message);
    this.name = 'DoorError';
    this.code = code;
    this.details = details;
  }
}

/** The extension API object (Firefox: browser, Chromium: chrome). */
export function extensionApi() {
  return globalThis.browser?.runtime?.sendMessage ? globalThis.browser : globalThis.chrome;
}

/** A sendMessage bound to one runtime (tests pass their own). */
export function makeSendMessage(runtime) {
  return async function send(action, args = {}) {
    let reply;
    try {
      reply = await runtime.sendMessage({ action, args });
    } catch (err) {
      throw new DoorError('no_reply', `The FaceCloak background did not answer (${err && err.message}).`);
    }
    if (!reply || typeof reply !== 'object' || typeof reply.ok !== 'boolean') {
      throw new DoorError('no_reply', 'The FaceCloak background sent no answer.');
    }
    if (!reply.ok) {
      const error = reply.error || {};
      throw new DoorError(String(error.code || 'error'), String(error.message || 'refused'), error);
    }
    return reply.result;
  };
}

export function sendMessage(action, args = {}) {
  return makeSendMessage(extensionApi().runtime)(action, args);
}
