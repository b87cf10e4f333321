// dom.js: small helpers to build the page without a framework.

export const $ = (sel, root = document) => root.querySelector(sel);

/** el builds an element: attributes (class, text, on<event>, booleans)
 * and children (nodes or strings). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  for (const c of children.flat()) if (c != null && c !== false) e.append(c);
  return e;
}

const SVG = 'http://www.w3.org/2000/svg';

/** svg builds an SVG element with attributes. */
export function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  setAttrs(e, attrs);
  return e;
}

function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
}

/** say puts a message in a status or alert element; kind is '', 'ok' or 'error'. */
export function say(target, text, kind = '') {
  target.textContent = text;
  target.dataset.kind = kind;
  target.hidden = !text;
}

const nf = new Intl.NumberFormat('en');

/** num formats a number with thousands separators ('–' when unknown). */
export function num(n, digits = 0) {
  if (n == null || Number.isNaN(n)) return '–';
  return digits ? n.toFixed(digits) : nf.format(Math.round(n));
}

/** bytes formats a size (1 KiB = 1024 bytes). */
export function bytes(n) {
  if (n == null) return '–';
  const units = ['bytes', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i ? `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}` : `${n} bytes`;
}

/** clock formats a time of day as HH:MM:SS.mmm. */
export function clock(d) {
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** sleep waits ms milliseconds, or less if the signal aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

/** parentOf is the directory of a key ("/" for a top-level key). */
export function parentOf(key) {
  const i = key.lastIndexOf('/');
  return i <= 0 ? '/' : key.slice(0, i);
}

/** baseName is the last element of a key. */
export function baseName(key) {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** cleanKey makes a typed path a key: one leading slash, no empty
 * elements, no trailing slash ("/" for the root). */
export function cleanKey(p) {
  const parts = p.split('/').filter(Boolean);
  return '/' + parts.join('/');
}

/** joinKey puts a name below a directory. */
export function joinKey(dir, name) {
  return cleanKey(dir + '/' + name);
}
