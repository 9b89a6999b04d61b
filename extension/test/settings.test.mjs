import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSiteKey, mergeSettings, siteKeyFromInput } from '../src/settings.js';

const current = {
  strength: 'mid', only_user: true, strip_gps: true, active_profile: 'me',
  sites: { 'facebook.com': { enabled: true, fail: 'closed' }, 'x.com': { enabled: true, fail: 'closed' } },
};

test('a partial change merges; a site entry replaces; null removes', () => {
  const out = mergeSettings(current, { strength: 'high', sites: { 'x.com': { enabled: false }, 'facebook.com': null, 'example.org': { fail: 'open' } } });
  assert.equal(out.strength, 'high');
  assert.equal(out.only_user, true);
  assert.deepEqual(out.sites, { 'x.com': { enabled: false, fail: 'closed' }, 'example.org': { enabled: true, fail: 'open' } });
  assert.equal(current.strength, 'mid', 'the input is not changed');
  assert.ok(current.sites['facebook.com']);
});

test('unknown keys and wrong types are refused before anything changes', () => {
  for (const change of [
    { colour: 'red' }, { allow_plaintext_keyring: true }, { strength: 'max' }, { only_user: 'yes' },
    { active_profile: 3 }, { sites: [] }, { sites: { 'Bad Host': { enabled: true } } },
    { sites: { 'a.com': { enabled: 'on' } } }, { sites: { 'a.com': { fail: 'sometimes' } } },
    { sites: { 'a.com': { enabled: true, extra: 1 } } }, null, [],
  ]) {
    assert.throws(() => mergeSettings(current, change), (err) => err.code === 'bad_settings', JSON.stringify(change));
  }
});

test('site keys a person types are cleaned up', () => {
  assert.equal(siteKeyFromInput('https://www.Instagram.com/p/123'), 'instagram.com');
  assert.equal(siteKeyFromInput('  m.example.org:8080/path '), 'm.example.org');
  assert.equal(siteKeyFromInput('127.0.0.1'), '127.0.0.1');
  assert.equal(siteKeyFromInput('www.com'), 'www.com');
  assert.equal(siteKeyFromInput('not a host'), '');
  assert.equal(siteKeyFromInput(''), '');
  assert.ok(isSiteKey('localhost'));
  assert.ok(!isSiteKey('UPPER.com'));
});
