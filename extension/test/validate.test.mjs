import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ArgsError, checkArgs } from '../src/validate.js';

const schema = {
  name: { type: 'string', max: 5 },
  n: { type: 'int', min: 1, max: 3, optional: true },
  flag: { type: 'bool', optional: true },
  mode: { type: 'enum', values: ['a', 'b'], optional: true },
  data: { type: 'b64', max: 6, optional: true },
  obj: { type: 'object', optional: true },
};

test('accepts what the schema describes and copies only its keys', () => {
  const args = { name: 'abc', n: 2, flag: false, mode: 'b', data: 'AAECAwQF', obj: { x: 1 } };
  assert.deepEqual(checkArgs(schema, args), args);
  assert.deepEqual(checkArgs({}, undefined), {});
});

test('refuses unknown keys, missing keys and wrong types', () => {
  const cases = [
    [{ name: 'a', extra: 1 }, /unknown argument extra/],
    [{}, /missing argument name/],
    [{ name: 7 }, /must be a string/],
    [{ name: 'toolong' }, /longer than 5/],
    [{ name: 'a', n: 1.5 }, /integer/],
    [{ name: 'a', n: 9 }, /at most 3/],
    [{ name: 'a', flag: 'yes' }, /true or false/],
    [{ name: 'a', mode: 'c' }, /one of a, b/],
    [{ name: 'a', data: 'not base64!' }, /not base64/],
    [{ name: 'a', data: 'AAECAwQFBgcI' }, /larger than 6/],
    [{ name: 'a', obj: [1] }, /must be an object/],
    [{ name: 'a', obj: new Date() }, /must be an object/],
  ];
  for (const [args, re] of cases) {
    assert.throws(() => checkArgs(schema, args), (err) => err instanceof ArgsError && err.code === 'bad_args' && re.test(err.message), JSON.stringify(args));
  }
  assert.throws(() => checkArgs(schema, 'x'), /args must be an object/);
  assert.throws(() => checkArgs(schema, null), /args must be an object/);
});

test('a __proto__ key is an unknown argument, not a prototype change', () => {
  const args = JSON.parse('{"name": "a", "__proto__": {"polluted": true}}');
  assert.throws(() => checkArgs(schema, args), /unknown argument __proto__/);
  assert.equal({}.polluted, undefined);
});
