// Bytes <-> base64. Extension messages are JSON in Chromium, so image bytes
// travel between content scripts, pages and the service worker as base64.

const CHUNK = 0x8000;

/** Uint8Array (or ArrayBuffer) -> base64 string. */
export function bytesToBase64(input) {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  let binary = '';
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK));
  }
  return btoa(binary);
}

/** base64 string -> Uint8Array; throws on text that is not base64. */
export function base64ToBytes(b64) {
  const binary = atob(b64);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
