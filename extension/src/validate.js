// A small schema check for message arguments. A schema maps each allowed key
// to a rule; unknown keys are refused, so a message carries exactly what its
// action documents. Rules:
//   {type: 'string', max, min, pattern, optional}
//   {type: 'int', min, max, optional}
//   {type: 'bool', optional}
//   {type: 'enum', values: [...], optional}
//   {type: 'b64', max (decoded bytes), optional}
//   {type: 'object', optional}   (a plain object, checked by the handler)

export class ArgsError extends Error {
  constructor(message) {
    super(message);
    this.code = 'bad_args';
  }
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function isPlainObject(v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function checkOne(key, rule, value) {
  switch (rule.type) {
    case 'string':
      if (typeof value !== 'string') throw new ArgsError(`${key} must be a string`);
      if (rule.max !== undefined && value.length > rule.max) throw new ArgsError(`${key} is longer than ${rule.max}`);
      if (rule.min !== undefined && value.length < rule.min) throw new ArgsError(`${key} is shorter than ${rule.min}`);
      if (rule.pattern && !rule.pattern.test(value)) throw new ArgsError(`${key} has the wrong form`);
      return;
    case 'int':
      if (!Number.isInteger(value)) throw new ArgsError(`${key} must be an integer`);
      if (rule.min !== undefined && value < rule.min) throw new ArgsError(`${key} must be at least ${rule.min}`);
      if (rule.max !== undefined && value > rule.max) throw new ArgsError(`${key} must be at most ${rule.max}`);
      return;
    case 'bool':
      if (typeof value !== 'boolean') throw new ArgsError(`${key} must be true or false`);
      return;
    case 'enum':
      if (!rule.values.includes(value)) throw new ArgsError(`${key} must be one of ${rule.values.join(', ')}`);
      return;
    case 'b64': {
      if (typeof value !== 'string') throw new ArgsError(`${key} must be base64 text`);
      if (value.length % 4 !== 0 || !B64.test(value)) throw new ArgsError(`${key} is not base64`);
      const bytes = (value.length / 4) * 3;
      if (rule.max !== undefined && bytes > rule.max + 2) throw new ArgsError(`${key} is larger than ${rule.max} bytes`);
      if (rule.min !== undefined && bytes < rule.min) throw new ArgsError(`${key} is empty`);
      return;
    }
    case 'object':
      if (!isPlainObject(value)) throw new ArgsError(`${key} must be an object`);
      return;
    default:
      throw new Error(`schema rule for ${key} has unknown type ${rule.type}`);
  }
}

/** Check `args` against `schema`; returns a fresh object with only the schema's keys. */
export function checkArgs(schema, args) {
  const value = args === undefined ? {} : args;
  if (!isPlainObject(value)) throw new ArgsError('args must be an object');
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(schema, key)) throw new ArgsError(`unknown argument ${key}`);
  }
  const out = {};
  for (const [key, rule] of Object.entries(schema)) {
    if (!Object.hasOwn(value, key) || value[key] === undefined) {
      if (rule.optional) continue;
      throw new ArgsError(`missing argument ${key}`);
    }
    checkOne(key, rule, value[key]);
    out[key] = value[key];
  }
  return out;
}

export { isPlainObject };
