// One error type for everything the extension refuses or fails at. `code`
// is a short machine word (the daemon's codes pass through unchanged, see
// daemon/PROTOCOL.md); `message` is a sentence for a person.

export class FcError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'FcError';
    this.code = code;
    Object.assign(this, extra);
  }
}

/** The plain object an error travels as: {code, message, ...extra}. */
export function toWire(err) {
  if (err && typeof err.code === 'string') {
    const out = { code: err.code, message: String(err.message || err.code) };
    for (const key of ['status', 'fail']) {
      if (err[key] !== undefined) out[key] = err[key];
    }
    return out;
  }
  return { code: 'internal', message: 'FaceCloak hit an internal error; see the extension console.' };
}
