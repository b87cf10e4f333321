// keys.js: the Keys view. A tree that loads each directory when it is
// opened, and a pane that shows the selected key and edits it. Every
// edit and delete of a key is a compare-and-swap on the modifiedIndex the
// pane showed, so two people editing one key see a conflict instead of
// overwriting each other.
//
// With authentication on, every read goes through readKey (api.js), and a
// refused directory or key says which one was refused and to whom; the
// rest of the tree stays usable. When the top of the tree is refused to a
// logged-in user, the tree offers the directories below it that this user
// could list (auth.js's places).

import { request, readKey, keyURL, describe, isAuthError } from './api.js';
import { currentUser, notePlace, placesUnder, onAuthChange } from './auth.js';
import { $, el, say, bytes, num, parentOf, baseName, cleanKey, joinKey } from './dom.js';
import { confirmDialog, openCreate } from './create.js';

/** A value longer than this many characters is shown cut, with a
 * download link for the whole value. */
const SHOW_CHARS = 4096;

const tree = $('#tree');
const detail = $('#detail');
const msg = $('#detail-msg');

let root = '/'; // the directory at the top of the tree
const expanded = new Set(); // directories the user opened
let shown = null; // the node the pane shows, as the member returned it
let ttlTimer = 0;
let blobURL = '';

export function initKeys() {
  $('#goto-form').addEventListener('submit', (e) => {
    e.preventDefault();
    openPath($('#goto-path').value);
  });
  $('#tree-refresh').addEventListener('click', () => loadDir(root, tree));
  $('#tree-up').addEventListener('click', () => setRoot('/'));
  $('#new-btn').addEventListener('click', () => openCreate(currentDir(), created));
  tree.addEventListener('keydown', treeKeys);
  onAuthChange(authChanged);
  setRoot('/');
}

/** authChanged starts over after a log in (at the "Start at" path) or a
 * log out (nothing of the last user's stays on the page). */
function authChanged(ev) {
  expanded.clear();
  stopTTL();
  shown = null;
  say(msg, '');
  detail.replaceChildren(el('p', { class: 'hint' }, 'Select a key or a directory.'));
  if (ev.kind !== 'login' || !ev.node) {
    setRoot('/');
    if (ev.node === null) say(msg, `There is no key ${ev.start}.`, 'error');
    return;
  }
  if (ev.node.dir) setRoot(ev.node.key || '/');
  else setRoot('/');
  showNode(ev.node);
}

/** currentDir is where "New…" creates: the shown directory, or the
 * directory of the shown key, or the top of the tree. */
function currentDir() {
  if (!shown) return root;
  return shown.dir ? shown.key || '/' : parentOf(shown.key);
}

function setRoot(dir) {
  root = dir;
  $('#tree-root').textContent = dir === '/' ? 'All keys' : `Inside ${dir}`;
  $('#tree-up').hidden = dir === '/';
  return loadDir(root, tree);
}

/** openPath shows any key or directory, hidden ones included. */
async function openPath(typed) {
  const key = cleanKey(typed || '/');
  try {
    const { body } = await readKey(key);
    if (body.node.dir) await setRoot(key);
    showNode(body.node);
  } catch (e) {
    say(msg, e.code === 100 ? `There is no key ${key}.` : describe(e), 'error');
  }
}

/** loadDir (re)lists one directory into ul and reopens the directories
 * below it that were open. */
async function loadDir(dir, ul) {
  ul.setAttribute('aria-busy', 'true');
  try {
    const { body } = await readKey(dir, '?sorted=true');
    notePlace(dir);
    const nodes = body.node.nodes || [];
    ul.replaceChildren(...nodes.map((n) => treeItem(n)));
    if (!nodes.length) ul.append(el('li', { class: 'hint' }, '(empty)'));
    markSelected();
    await Promise.all(nodes.filter((n) => n.dir && expanded.has(n.key)).map((n) => expand(n.key)));
  } catch (e) {
    const refusal = el('li', { class: 'msg', 'data-kind': 'error', 'data-refused': isAuthError(e) ? dir : null }, describe(e));
    ul.replaceChildren(refusal);
    // The top of the tree is refused: offer what the user could list
    // below it, so the tree still shows what they may read.
    const below = ul === tree && isAuthError(e) && currentUser() ? placesUnder(dir) : [];
    if (below.length) {
      ul.append(el('li', { class: 'hint' }, `Below it, ${currentUser()} may read:`), ...below.map((k) => treeItem({ key: k, dir: true }, k)));
      await Promise.all(below.filter((k) => expanded.has(k)).map(expand));
    }
  } finally {
    ul.setAttribute('aria-busy', 'false');
  }
}

/** treeItem is one entry of the tree; label replaces the key's name. */
function treeItem(n, label) {
  const name = label ?? baseName(n.key);
  const b = el('button', { type: 'button', class: n.dir ? 'node dir' : 'node', 'data-key': n.key }, n.dir ? name + '/' : name);
  if (n.ttl) b.append(el('span', { class: 'badge' }, 'ttl'));
  const li = el('li', {}, b);
  if (n.dir) {
    b.setAttribute('aria-expanded', 'false');
    li.append(el('ul', { hidden: true }));
  }
  b.addEventListener('click', () => {
    if (n.dir) toggle(n.key);
    select(n.key);
  });
  return li;
}

function buttonFor(key) {
  return tree.querySelector(`button[data-key="${CSS.escape(key)}"]`);
}

async function expand(key) {
  const b = buttonFor(key);
  if (!b) return;
  expanded.add(key);
  b.setAttribute('aria-expanded', 'true');
  const ul = b.nextElementSibling;
  ul.hidden = false;
  await loadDir(key, ul);
}

function collapse(key) {
  for (const k of [...expanded]) if (k === key || k.startsWith(key + '/')) expanded.delete(k);
  const b = buttonFor(key);
  if (!b) return;
  b.setAttribute('aria-expanded', 'false');
  b.nextElementSibling.hidden = true;
}

function toggle(key) {
  if (buttonFor(key)?.getAttribute('aria-expanded') === 'true') collapse(key);
  else expand(key);
}

/** refreshDir relists dir if the tree shows it, else the nearest
 * directory above it that the tree shows. */
async function refreshDir(dir) {
  for (let d = dir; ; d = parentOf(d)) {
    if (d === root) return loadDir(root, tree);
    const b = buttonFor(d);
    if (b && b.getAttribute('aria-expanded') === 'true') return loadDir(d, b.nextElementSibling);
    if (d === '/') return undefined;
  }
}

function markSelected() {
  for (const b of tree.querySelectorAll('[aria-current]')) b.removeAttribute('aria-current');
  const b = shown && buttonFor(shown.key);
  if (b) b.setAttribute('aria-current', 'true');
}

/** Arrow keys move between the tree's buttons; Right and Left open and
 * close directories (the usual tree keys). */
function treeKeys(e) {
  const all = [...tree.querySelectorAll('button.node')].filter((b) => b.offsetParent !== null);
  const i = all.indexOf(document.activeElement);
  if (i < 0) return;
  const b = all[i];
  const open = b.getAttribute('aria-expanded');
  switch (e.key) {
    case 'ArrowDown': all[i + 1]?.focus(); break;
    case 'ArrowUp': all[i - 1]?.focus(); break;
    case 'Home': all[0].focus(); break;
    case 'End': all[all.length - 1].focus(); break;
    case 'ArrowRight':
      if (open === 'false') expand(b.dataset.key);
      else if (open === 'true') all[i + 1]?.focus();
      break;
    case 'ArrowLeft':
      if (open === 'true') collapse(b.dataset.key);
      else b.closest('ul')?.previousElementSibling?.focus();
      break;
    default: return;
  }
  e.preventDefault();
}

/** select reads a key again (for a fresh index) and shows it. */
async function select(key) {
  say(msg, '');
  try {
    const { body } = await readKey(key);
    showNode(body.node);
  } catch (e) {
    if (e.code === 100) {
      showGone(key, 'This key no longer exists (deleted, or expired).');
      refreshDir(parentOf(key));
    } else say(msg, describe(e), 'error');
  }
}

function stopTTL() {
  clearInterval(ttlTimer);
  ttlTimer = 0;
}

function showGone(key, text) {
  stopTTL();
  shown = null;
  markSelected();
  detail.replaceChildren(el('h2', { class: 'key' }, key), el('p', { class: 'hint' }, text));
}

/** showNode fills the pane with a key or a directory. */
function showNode(node) {
  stopTTL();
  if (blobURL) URL.revokeObjectURL(blobURL);
  blobURL = '';
  shown = node;
  markSelected();
  const key = node.key || '/';
  const facts = el('dl', { class: 'facts' });
  const fact = (name, ...value) => facts.append(el('dt', {}, name), el('dd', {}, ...value));
  fact('Type', node.dir ? `directory, ${num((node.nodes || []).length)} entries listed` : 'key');
  if (node.key) {
    fact('TTL', ttlView(node));
    fact('Created at index', el('span', { id: 'detail-created' }, String(node.createdIndex)));
    fact('Modified at index', el('span', { id: 'detail-modified' }, String(node.modifiedIndex)));
  }
  const actions = el('div', { class: 'row' });
  if (node.dir) {
    actions.append(el('button', { type: 'button', id: 'detail-new', onclick: () => openCreate(key, created) }, 'New in this directory…'));
  } else {
    actions.append(el('button', { type: 'button', id: 'detail-edit', onclick: () => openEditor(node) }, 'Edit'));
  }
  if (node.key) actions.append(el('button', { type: 'button', id: 'detail-delete', class: 'danger', onclick: () => remove(node) }, 'Delete…'));
  actions.append(el('button', { type: 'button', onclick: () => select(key) }, 'Reload'));
  // replaceChildren would show a null as the text "null": leave it out.
  detail.replaceChildren(...[
    el('h2', { class: 'key', id: 'detail-key' }, key),
    node.dir ? null : valueView(node),
    facts, actions,
    el('div', { id: 'conflict' }),
    el('div', { id: 'editor' }),
  ].filter(Boolean));
}

function valueView(node) {
  const v = node.value ?? '';
  const pre = el('pre', { class: 'value', id: 'detail-value', tabindex: '0', 'aria-label': 'Value' });
  if (v === '') pre.append(el('span', { class: 'hint' }, '(empty value)'));
  else pre.textContent = v.length > SHOW_CHARS ? v.slice(0, SHOW_CHARS) : v;
  if (v.length <= SHOW_CHARS) return pre;
  const blob = new Blob([v], { type: 'application/octet-stream' });
  blobURL = URL.createObjectURL(blob);
  return el('div', {}, pre,
    el('p', { class: 'hint', id: 'detail-truncated' }, `Showing the first ${num(SHOW_CHARS)} of ${num(v.length)} characters. `,
      el('a', { href: blobURL, download: baseName(node.key) || 'value' }, `Download the whole value (${bytes(blob.size)})`)));
}

/** ttlView counts the remaining TTL down every second; when it reaches
 * zero the key is read again (the leader removes it shortly after). */
function ttlView(node) {
  if (!node.ttl) return 'none';
  const out = el('span', { id: 'detail-ttl' });
  const end = performance.now() + node.ttl * 1000;
  const at = node.expiration ? new Date(node.expiration) : null;
  const tick = () => {
    const left = Math.ceil((end - performance.now()) / 1000);
    if (left > 0) {
      out.textContent = `${num(left)} s` + (at ? ` (expires at ${at.toLocaleTimeString()})` : '');
      return;
    }
    stopTTL();
    out.textContent = 'expired';
    setTimeout(() => { if (shown === node) select(node.key); }, 2000);
  };
  tick();
  ttlTimer = setInterval(tick, 1000);
  return out;
}

/** remainingTTL is the whole seconds left on the shown key ('' if none). */
function remainingTTL() {
  const t = $('#detail-ttl')?.textContent.match(/^([\d,]+) s/);
  return t ? t[1].replace(/,/g, '') : '';
}

function openEditor(node) {
  const box = $('#editor');
  const value = el('textarea', { id: 'edit-value', rows: '6', spellcheck: 'false' });
  value.value = node.value ?? '';
  const ttl = el('input', { id: 'edit-ttl', inputmode: 'numeric', autocomplete: 'off', value: remainingTTL() });
  const form = el('form', { id: 'edit-form', class: 'edit' },
    el('h3', {}, 'Edit'),
    el('label', { for: 'edit-value' }, 'Value'), value,
    el('label', { for: 'edit-ttl' }, 'TTL in seconds (empty: never expires)'), ttl,
    el('p', { class: 'hint' }, `Saving succeeds only if the key is still at index ${node.modifiedIndex}, the one shown here.`),
    el('div', { class: 'row' },
      el('button', { type: 'submit', id: 'edit-save' }, 'Save'),
      el('button', { type: 'button', onclick: () => box.replaceChildren() }, 'Cancel')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    save(node, value.value, ttl.value.trim(), node.modifiedIndex);
  });
  box.replaceChildren(form);
  value.focus();
}

/** save writes value with prevIndex: a compare-and-swap on the index the
 * user edited. */
async function save(node, value, ttl, prevIndex) {
  if (ttl && !/^\d+$/.test(ttl)) {
    say(msg, 'The TTL must be a whole number of seconds.', 'error');
    return;
  }
  const form = { value, prevIndex: String(prevIndex) };
  if (ttl) form.ttl = ttl;
  try {
    const { body } = await request(keyURL(node.key), { method: 'PUT', form });
    showNode(body.node);
    say(msg, `Saved ${node.key} at index ${body.node.modifiedIndex}.`, 'ok');
    refreshDir(parentOf(node.key));
  } catch (e) {
    if (e.code === 101) conflict(node, value, ttl);
    else if (e.code === 100) say(msg, `${node.key} was deleted by someone else after you opened it; nothing was saved.`, 'error');
    else say(msg, describe(e), 'error');
  }
}

/** conflict shows what the other writer saved, keeps the user's text in
 * the editor, and offers to overwrite (a new compare-and-swap on their
 * index) or to take their version. */
async function conflict(mine, value, ttl) {
  let theirs = null;
  try {
    theirs = (await readKey(mine.key)).body.node;
  } catch { /* deleted meanwhile: theirs stays null */ }
  const box = $('#conflict');
  say(msg, '');
  if (!theirs) {
    box.replaceChildren(el('div', { class: 'msg', 'data-kind': 'error', role: 'alert' },
      `Conflict: ${mine.key} was deleted by someone else after you opened it. Your edit was not saved.`));
    return;
  }
  const v = theirs.value ?? '';
  box.replaceChildren(el('div', { class: 'msg conflict', 'data-kind': 'error', role: 'alert', id: 'conflict-alert' },
    el('p', {}, `Conflict: someone else changed ${mine.key} after you opened it. You edited it at index ${mine.modifiedIndex}; it is now at index ${theirs.modifiedIndex}. Your edit was not saved.`),
    el('p', {}, 'Their value:'),
    el('pre', { class: 'value', id: 'conflict-theirs' }, v.length > SHOW_CHARS ? v.slice(0, SHOW_CHARS) + ' …' : v),
    el('div', { class: 'row' },
      el('button', { type: 'button', id: 'conflict-overwrite', class: 'danger', onclick: () => save(theirs, value, ttl, theirs.modifiedIndex) }, 'Overwrite with my edit'),
      el('button', { type: 'button', id: 'conflict-discard', onclick: () => showNode(theirs) }, 'Discard my edit'))));
}

async function remove(node) {
  const what = node.dir ? `the directory ${node.key} and everything in it` : node.key;
  if (!(await confirmDialog(`Delete ${what}?`))) return;
  // A key is deleted only if it is still at the index shown; etcd has no
  // compare-and-delete for directories.
  const q = node.dir ? '?dir=true&recursive=true' : `?prevIndex=${node.modifiedIndex}`;
  try {
    const { body } = await request(keyURL(node.key) + q, { method: 'DELETE' });
    showGone(node.key, `Deleted at index ${body.node.modifiedIndex}.`);
    say(msg, `Deleted ${node.key}.`, 'ok');
    refreshDir(parentOf(node.key));
  } catch (e) {
    if (e.code === 101) {
      await select(node.key);
      say(msg, `Not deleted: someone changed ${node.key} after you opened it (it is now at index ${shown?.modifiedIndex ?? '?'}). Check the new value and delete again if you still want to.`, 'error');
    } else if (e.code === 100) {
      showGone(node.key, 'Someone else deleted it already.');
      refreshDir(parentOf(node.key));
    } else say(msg, describe(e), 'error');
  }
}

/** created runs after the create dialog made a node: open its directory
 * and show it. */
async function created(node) {
  const dir = parentOf(node.key);
  if (dir !== root && dir.startsWith(root === '/' ? '/' : root + '/')) {
    // open each directory on the way down
    const rel = dir.slice(root === '/' ? 1 : root.length + 1).split('/');
    let d = root;
    for (const part of rel) {
      d = joinKey(d, part);
      expanded.add(d);
    }
  }
  await loadDir(root, tree);
  await select(node.key);
  say(msg, `Created ${node.key} at index ${node.modifiedIndex}.`, 'ok');
}
