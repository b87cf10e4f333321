// create.js: the dialogs of the Keys view: "New…" (a key with a value, a
// directory, or an in-order key) and the delete confirmation.

import { request, keyURL, describe } from './api.js';
import { $, say, joinKey } from './dom.js';

const dialog = $('#create-dialog');
const form = $('#create-form');
const note = $('#create-msg');
let dir = '/';
let done = null;

export function initCreate() {
  form.addEventListener('change', kindChanged);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    create();
  });
  $('#create-cancel').addEventListener('click', () => dialog.close());
}

function kindChanged() {
  const kind = form.elements.kind.value;
  $('#create-name-row').hidden = kind === 'inorder';
  $('#create-value-row').hidden = kind === 'dir';
}

/** openCreate opens the dialog for directory d; onCreated(node) runs
 * after a successful create. */
export function openCreate(d, onCreated) {
  dir = d;
  done = onCreated;
  form.reset();
  kindChanged();
  say(note, '');
  $('#create-dir').textContent = d;
  dialog.showModal();
  $('#create-name').focus();
}

async function create() {
  const kind = form.elements.kind.value;
  const name = $('#create-name').value.trim();
  const ttl = $('#create-ttl').value.trim();
  if (kind !== 'inorder' && !name) {
    say(note, 'Give it a name.', 'error');
    return;
  }
  if (ttl && !/^\d+$/.test(ttl)) {
    say(note, 'The TTL must be a whole number of seconds.', 'error');
    return;
  }
  const fields = {};
  if (ttl) fields.ttl = ttl;
  let path = joinKey(dir, name);
  let method = 'PUT';
  if (kind === 'dir') {
    // prevExist=false: creating never replaces what someone else made.
    Object.assign(fields, { dir: 'true', prevExist: 'false' });
  } else if (kind === 'value') {
    Object.assign(fields, { value: $('#create-value').value, prevExist: 'false' });
  } else {
    path = dir;
    method = 'POST';
    fields.value = $('#create-value').value;
  }
  try {
    const { body } = await request(keyURL(path), { method, form: fields });
    dialog.close();
    done?.(body.node);
  } catch (e) {
    say(note, e.code === 105 ? `${path} exists already.` : describe(e), 'error');
  }
}

/** confirmDialog asks a yes/no question in a modal dialog and resolves
 * to true when the user confirms. Escape or Cancel answer no. */
export function confirmDialog(text) {
  const d = $('#confirm-dialog');
  $('#confirm-text').textContent = text;
  return new Promise((resolve) => {
    const ok = $('#confirm-ok');
    const cancel = $('#confirm-cancel');
    const finish = (answer) => {
      ok.onclick = cancel.onclick = d.onclose = null;
      if (d.open) d.close();
      resolve(answer);
    };
    ok.onclick = () => finish(true);
    cancel.onclick = () => finish(false);
    d.onclose = () => finish(false);
    d.showModal();
    cancel.focus();
  });
}
