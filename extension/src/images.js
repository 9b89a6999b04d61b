// What counts as a photo, and what the page gets back. The daemon cloaks
// JPEG, PNG and WebP in their own format; GIF, BMP and TIFF come back as PNG
// (daemon/PROTOCOL.md, "Cloak"). Other image types (HEIC, AVIF) the daemon
// refuses, and the site's fail mode decides. SVG is a drawing, not a photo:
// it passes untouched.

const SIGNATURES = [
  ['image/jpeg', [0xff, 0xd8, 0xff]],
  ['image/png', [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]],
  ['image/gif', [0x47, 0x49, 0x46, 0x38]],
  ['image/bmp', [0x42, 0x4d]],
  ['image/tiff', [0x49, 0x49, 0x2a, 0x00]],
  ['image/tiff', [0x4d, 0x4d, 0x00, 0x2a]],
];

function startsWith(bytes, sig, at = 0) {
  if (bytes.length < at + sig.length) return false;
  return sig.every((b, i) => bytes[at + i] === b);
}

const ascii = (s) => [...s].map((c) => c.charCodeAt(0));

/** The image type the first bytes show (16 are enough), or null. */
export function sniffImageType(head) {
  const bytes = head instanceof Uint8Array ? head : new Uint8Array(head || []);
  for (const [type, sig] of SIGNATURES) if (startsWith(bytes, sig)) return type;
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'image/webp';
  if (startsWith(bytes, ascii('ftyp'), 4)) {
    const brand = String.fromCharCode(...bytes.subarray(8, 12));
    if (brand === 'avif' || brand === 'avis') return 'image/avif';
    if (['heic', 'heix', 'hevc', 'heim', 'heis', 'mif1', 'msf1'].includes(brand)) return 'image/heic';
  }
  return null;
}

/** True if a file with this declared type and these first bytes is a photo to cloak. */
export function isPhoto(type, head) {
  const declared = typeof type === 'string' ? type.toLowerCase() : '';
  if (declared === 'image/svg+xml') return false;
  if (declared.startsWith('image/')) return true;
  return sniffImageType(head) !== null;
}

const PHOTO_EXTENSIONS = /\.(jpe?g|jpe|jfif|pjpeg|pjp|png|apng|webp|gif|bmp|dib|tiff?|heic|heif|avif|jxl)$/i;

/**
 * The quick test an event handler can make synchronously (no bytes read
 * yet): an image/* type other than SVG, or no type and a photo's extension.
 */
export function looksLikePhoto({ type, name }) {
  const declared = typeof type === 'string' ? type.toLowerCase() : '';
  if (declared) return declared.startsWith('image/') && declared !== 'image/svg+xml';
  return typeof name === 'string' && PHOTO_EXTENSIONS.test(name);
}

const EXTENSIONS = {
  'image/jpeg': ['.jpg', '.jpeg', '.jpe', '.jfif', '.pjpeg', '.pjp'],
  'image/png': ['.png'],
  'image/webp': ['.webp'],
};

/**
 * The name and type the page gets for a cloaked file. When the daemon kept
 * the format, both are the original's exactly; when it changed it (GIF ->
 * PNG), the extension follows the new format so the name does not lie.
 */
export function outputFile(name, declaredType, inType, outType) {
  const out = (outType || '').split(';')[0].trim().toLowerCase();
  if (!out || out === inType) return { name, type: declaredType };
  const exts = EXTENSIONS[out];
  if (!exts) return { name, type: out };
  const dot = name.lastIndexOf('.');
  const base = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot).toLowerCase() : '';
  return { name: exts.includes(ext) ? name : base + exts[0], type: out };
}
