// FaceCloak, page (MAIN) world, document_start. This script holds no
// secrets and makes no decisions. It tells the isolated content script
// about file inputs and shadow roots that the isolated world cannot see by
// itself, so that it can listen for their trusted events:
//   - a file input opened with click() / showPicker() / a dispatched click,
//     which may not be in the document (its events never reach window);
//   - a closed shadow root as it is attached (its `change` never leaves it).
// It hands the element over as the relatedTarget of a MouseEvent dispatched
// on document: DOM nodes are shared between worlds, JS objects are not.
// The page can forge such an event; the isolated world then merely listens
// on one more element for trusted events, which the page cannot forge.
(() => {
  'use strict';
  const HANDOVER = 'facecloak-handover';
  const dispatch = EventTarget.prototype.dispatchEvent;
  const MouseEventCtor = MouseEvent;
  const InputCtor = HTMLInputElement;
  const LabelCtor = HTMLLabelElement;
  const typeGetter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'type').get;
  const controlGetter = Object.getOwnPropertyDescriptor(HTMLLabelElement.prototype, 'control').get;
  const docRef = document;

  const isFileInput = (el) => el instanceof InputCtor && typeGetter.call(el) === 'file';

  function handover(node) {
    try {
      dispatch.call(docRef, new MouseEventCtor(HANDOVER, { relatedTarget: node }));
    } catch {
      // never break the page's call
    }
  }

  function fileInputOf(el) {
    if (isFileInput(el)) return el;
    if (el instanceof LabelCtor) {
      const control = controlGetter.call(el);
      if (isFileInput(control)) return control;
    }
    return null;
  }

  /** Replace proto[name] with a wrapper that runs `before` (and `after`) around the original. */
  function wrap(proto, name, { before, after }) {
    const desc = Object.getOwnPropertyDescriptor(proto, name);
    if (!desc || typeof desc.value !== 'function') return;
    const original = desc.value;
    const wrapped = {
      [name](...args) {
        if (before) before(this, args);
        const result = Reflect.apply(original, this, args);
        if (after) after(this, args, result);
        return result;
      },
    }[name];
    Object.defineProperty(proto, name, { ...desc, value: wrapped });
  }

  wrap(HTMLElement.prototype, 'click', {
    before(el) {
      const input = fileInputOf(el);
      if (input) handover(input);
    },
  });
  wrap(HTMLInputElement.prototype, 'showPicker', {
    before(el) {
      if (isFileInput(el)) handover(el);
    },
  });
  wrap(EventTarget.prototype, 'dispatchEvent', {
    before(target, [event]) {
      if (event && event.type === 'click') {
        const input = fileInputOf(target);
        if (input) handover(input);
      }
    },
  });
  wrap(Element.prototype, 'attachShadow', {
    after(host, [init]) {
      if (init && init.mode === 'closed') handover(host);
    },
  });

  // Ways a page can get the user's images without an input, a drop or a
  // paste event: the File System Access pickers and the async clipboard.
  // FaceCloak cannot swap a cloaked file into those, so on an enabled site
  // it refuses them (never a silent original). The isolated world answers
  // synchronously by cancelling a query event: on, or not yet known, means
  // refuse; off means go ahead.
  const EventCtor = Event;
  const DOMExceptionCtor = DOMException;
  function refused(kind) {
    const query = new EventCtor(`facecloak-guard-${kind}`, { cancelable: true });
    try {
      dispatch.call(docRef, query);
    } catch {
      return true;
    }
    return query.defaultPrevented;
  }
  const refusal = (what) =>
    new DOMExceptionCtor(`FaceCloak is on for this site and cannot cloak images ${what}; use the site's upload button, drag and drop, or paste.`, 'NotAllowedError');

  const IMAGE_EXT = /^\.(jpe?g|png|webp|gif|bmp|tiff?|heic|heif|avif)$/i;
  function mayPickImages(options) {
    if (!options || !options.excludeAcceptAllOption) return true; // "All files" lets the user pick a photo
    for (const t of options.types || []) {
      for (const [mime, exts] of Object.entries((t && t.accept) || {})) {
        if (mime.startsWith('image/') || mime === '*/*') return true;
        if ([].concat(exts || []).some((e) => IMAGE_EXT.test(String(e)))) return true;
      }
    }
    return false;
  }
  for (const name of ['showOpenFilePicker', 'showDirectoryPicker']) {
    const desc = Object.getOwnPropertyDescriptor(window, name);
    if (!desc || typeof desc.value !== 'function') continue;
    const original = desc.value;
    const wrapped = {
      [name](...args) {
        if ((name === 'showDirectoryPicker' || mayPickImages(args[0])) && refused('picker')) {
          return Promise.reject(refusal('from a file picker'));
        }
        return Reflect.apply(original, this, args);
      },
    }[name];
    Object.defineProperty(window, name, { ...desc, value: wrapped });
  }
  if (typeof ClipboardItem === 'function') {
    const desc = Object.getOwnPropertyDescriptor(ClipboardItem.prototype, 'getType');
    if (desc && typeof desc.value === 'function') {
      const original = desc.value;
      const wrapped = {
        getType(...args) {
          if (String(args[0]).toLowerCase().startsWith('image/') && refused('clipboard')) {
            return Promise.reject(refusal('read from the clipboard'));
          }
          return Reflect.apply(original, this, args);
        },
      }.getType;
      Object.defineProperty(ClipboardItem.prototype, 'getType', { ...desc, value: wrapped });
    }
  }
})();
