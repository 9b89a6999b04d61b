import { test } from 'node:test';
import assert from 'node:assert/strict';
import { covers, hostFromUrl, matchSite, normalizeHost, siteKeyFor, siteState, toggleChange } from '../src/sites.js';

const sites = {
  'facebook.com': { enabled: true, fail: 'closed' },
  'dev.facebook.com': { enabled: false, fail: 'closed' },
  'x.com': { enabled: true, fail: 'open' },
  '127.0.0.1': { enabled: true, fail: 'closed' },
};

test('a key covers its host and subdomains, not look-alikes', () => {
  assert.ok(covers('facebook.com', 'facebook.com'));
  assert.ok(covers('facebook.com', 'm.facebook.com'));
  assert.ok(covers('facebook.com', 'a.b.facebook.com'));
  assert.ok(covers('facebook.com', 'WWW.Facebook.COM.'));
  assert.ok(!covers('facebook.com', 'notfacebook.com'));
  assert.ok(!covers('facebook.com', 'facebook.com.evil.net'));
  assert.ok(!covers('book.com', 'facebook.com'));
  assert.ok(!covers('0.0.1', '127.0.0.1'), 'addresses have no subdomains');
  assert.ok(covers('127.0.0.1', '127.0.0.1'));
});

test('the most specific key wins', () => {
  assert.deepEqual(matchSite(sites, 'www.facebook.com'), { key: 'facebook.com', enabled: true, fail: 'closed' });
  assert.deepEqual(matchSite(sites, 'a.dev.facebook.com'), { key: 'dev.facebook.com', enabled: false, fail: 'closed' });
  assert.equal(matchSite(sites, 'example.com'), null);
  assert.equal(matchSite(null, 'example.com'), null);
});

test('an entry without fail is fail-closed; without enabled, enabled', () => {
  assert.deepEqual(matchSite({ 'a.com': {} }, 'a.com'), { key: 'a.com', enabled: true, fail: 'closed' });
  assert.deepEqual(matchSite({ 'a.com': { fail: 'bogus' } }, 'a.com').fail, 'closed');
});

test('hosts from URLs: only http(s)', () => {
  assert.equal(hostFromUrl('https://M.Facebook.com:8443/path?q'), 'm.facebook.com');
  assert.equal(hostFromUrl('http://[::1]:8080/'), '::1');
  assert.equal(hostFromUrl('chrome-extension://abc/popup.html'), '');
  assert.equal(hostFromUrl('file:///etc/passwd'), '');
  assert.equal(hostFromUrl('not a url'), '');
  assert.equal(normalizeHost(' Example.COM. '), 'example.com');
  assert.equal(normalizeHost('a b'), '');
  assert.equal(normalizeHost(42), '');
});

test('a frame is protected by its own host or by its tab', () => {
  const own = siteState({ sites }, 'upload.facebook.com', 'www.facebook.com');
  assert.equal(own.enabled, true);
  assert.equal(own.key, 'facebook.com');
  const embedded = siteState({ sites }, 'widget.example.net', 'x.com');
  assert.equal(embedded.enabled, true, 'an uploader embedded in an enabled site is covered');
  assert.equal(embedded.fail, 'open', 'with the enabling entry\'s fail mode');
  const off = siteState({ sites }, 'localhost', 'localhost');
  assert.equal(off.enabled, false);
  assert.equal(siteState(null, 'facebook.com').enabled, false, 'no settings known: nothing enabled');
  assert.equal(siteState({ sites }, 'dev.facebook.com').enabled, false);
});

test('toggling flips the governing entry or adds the host', () => {
  assert.deepEqual(toggleChange({ sites }, 'm.facebook.com'), { sites: { 'facebook.com': { enabled: false, fail: 'closed' } } });
  assert.deepEqual(toggleChange({ sites }, 'dev.facebook.com'), { sites: { 'dev.facebook.com': { enabled: true, fail: 'closed' } } });
  assert.deepEqual(toggleChange({ sites }, 'x.com'), { sites: { 'x.com': { enabled: false, fail: 'open' } } });
  assert.deepEqual(toggleChange({ sites }, 'www.example.org'), { sites: { 'example.org': { enabled: true, fail: 'closed' } } });
  assert.equal(siteKeyFor('www.com'), 'www.com', 'never a bare top-level domain');
  assert.equal(siteKeyFor('WWW.Example.com'), 'example.com');
  assert.throws(() => toggleChange({ sites }, ''), /not a host/);
});
