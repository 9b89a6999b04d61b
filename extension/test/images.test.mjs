import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPhoto, looksLikePhoto, outputFile, sniffImageType } from '../src/images.js';
import { base64ToBytes, bytesToBase64 } from '../src/b64.js';

const bytes = (...xs) => new Uint8Array(xs);
const ascii = (s) => [...s].map((c) => c.charCodeAt(0));

test('sniffs the photo formats from their first bytes', () => {
  assert.equal(sniffImageType(bytes(0xff, 0xd8, 0xff, 0xe0)), 'image/jpeg');
  assert.equal(sniffImageType(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)), 'image/png');
  assert.equal(sniffImageType(bytes(...ascii('RIFF'), 0, 0, 0, 0, ...ascii('WEBP'))), 'image/webp');
  assert.equal(sniffImageType(bytes(...ascii('GIF89a'))), 'image/gif');
  assert.equal(sniffImageType(bytes(0, 0, 0, 0x18, ...ascii('ftypheic'))), 'image/heic');
  assert.equal(sniffImageType(bytes(0, 0, 0, 0x18, ...ascii('ftypavif'))), 'image/avif');
  assert.equal(sniffImageType(bytes(...ascii('%PDF-1.7'))), null);
  assert.equal(sniffImageType(bytes(...ascii('RIFF'), 0, 0, 0, 0, ...ascii('WAVE'))), null);
  assert.equal(sniffImageType(bytes()), null);
});

test('what counts as a photo: images other than SVG', () => {
  assert.ok(looksLikePhoto({ type: 'image/jpeg', name: 'a.bin' }));
  assert.ok(looksLikePhoto({ type: '', name: 'IMG_0001.HEIC' }));
  assert.ok(!looksLikePhoto({ type: 'image/svg+xml', name: 'a.svg' }));
  assert.ok(!looksLikePhoto({ type: 'application/pdf', name: 'a.jpg' }), 'a declared type is believed');
  assert.ok(!looksLikePhoto({ type: '', name: 'notes.txt' }));
  assert.ok(isPhoto('', bytes(0xff, 0xd8, 0xff)));
  assert.ok(!isPhoto('image/svg+xml', bytes(0xff, 0xd8, 0xff)));
});

test('the page keeps name and type, unless the daemon changed the format', () => {
  assert.deepEqual(outputFile('me.JPG', 'image/jpeg', 'image/jpeg', 'image/jpeg'), { name: 'me.JPG', type: 'image/jpeg' });
  assert.deepEqual(outputFile('me.jpg', '', 'image/jpeg', 'image/jpeg; charset=binary'), { name: 'me.jpg', type: '' });
  assert.deepEqual(outputFile('anim.gif', 'image/gif', 'image/gif', 'image/png'), { name: 'anim.png', type: 'image/png' });
  assert.deepEqual(outputFile('scan', 'image/bmp', 'image/bmp', 'image/png'), { name: 'scan.png', type: 'image/png' });
  assert.deepEqual(outputFile('x.png', 'image/tiff', 'image/tiff', 'image/png'), { name: 'x.png', type: 'image/png' });
});

test('base64 round trip, including sizes past one chunk', () => {
  const data = new Uint8Array(100003);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
  const b64 = bytesToBase64(data);
  assert.equal(b64, Buffer.from(data).toString('base64'));
  assert.deepEqual(base64ToBytes(b64), data);
  assert.deepEqual(base64ToBytes(bytesToBase64(new Uint8Array())), new Uint8Array());
});
