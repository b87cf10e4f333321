// watch.js: the Watch view. A chain of long polls on a prefix
// (?wait=true&recursive=true&waitIndex=N), each answered by one event,
// the next one asking from that event's index + 1: so a pause, a dropped
// connection or a member that restarts (or dies: the request layer moves
// to another member) resumes where it stopped and misses nothing, unless
// the member's history no longer reaches back that far: then etcd
// answers error 401 and the page says so.
//
// Why not stream=true: a streaming watch whose waitIndex is already in
// the history gets that one event and then nothing more (etcd 2.x does
// not register it; the store here does the same), so a stream cannot
// resume. Each long poll costs one request per event, which is what
// etcd's own clients do.
//
// With authentication on, a recursive watch needs read permission on the
// whole prefix (etcd: a role pattern such as "/app/*"), and each event is
// also checked on its own key. A user limited to /app may not watch "/";
// the page then watches, each with its own chain, the directories below
// the prefix that this user could list (auth.js's places), and says so.
// Two different 401s meet here: HTTP status 401 is authentication
// (err.status, isAuthError), etcd's error code 401 in the JSON body (sent
// with HTTP 400) is a cleared history (err.code).

import { readKey, describe, conn, ApiError, isAuthError } from './api.js';
import { currentUser, placesUnder, onAuthChange } from './auth.js';
import { $, el, say, clock, sleep, cleanKey } from './dom.js';

/** Rows kept in the list; older ones are dropped. */
const MAX_ROWS = 500;
/** Characters of a value shown in a row. */
const VALUE_CHARS = 200;

const rows = $('#watch-events');
const status = $('#watch-status');
const note = $('#watch-note');
const alertBox = $('#watch-alert');
const pauseBtn = $('#watch-pause');

let prefix = '/'; // what the user asked to watch
// The chains of long polls: one for prefix, or one per readable directory
// below it. next is the waitIndex to resume from (last index + 1).
let chains = [];
let ctl = null; // aborts the running chains
let started = false;
let said = ''; // the status line last written

export function initWatch() {
  $('#watch-form').addEventListener('submit', (e) => {
    e.preventDefault();
    start($('#watch-prefix').value);
  });
  pauseBtn.addEventListener('click', () => (ctl ? pause() : resume()));
  $('#watch-clear').addEventListener('click', () => rows.replaceChildren());
  onAuthChange(authChanged);
}

/** showWatch starts watching "/" the first time the view is opened. */
export function showWatch() {
  if (!started) start($('#watch-prefix').value);
}

/** authChanged starts again as the new user after a log in, and after a
 * log out drops what the last user was shown. */
function authChanged(ev) {
  if (ev.kind === 'login') {
    if (started || !$('#view-watch').hidden) start(prefix);
    return;
  }
  stop();
  started = false;
  rows.replaceChildren();
  say(alertBox, '');
  say(note, '');
  pauseBtn.disabled = true;
  say(status, 'Logged out: the events shown to the last user were cleared.');
}

function start(p) {
  started = true;
  stop();
  prefix = cleanKey(p || '/');
  $('#watch-prefix').value = prefix;
  chains = [{ prefix, next: null }];
  rows.replaceChildren();
  say(alertBox, '');
  say(note, '');
  run();
}

function stop() {
  ctl?.abort();
  ctl = null;
}

function pause() {
  stop();
  pauseBtn.textContent = 'Resume';
  pauseBtn.setAttribute('aria-pressed', 'true');
  const from = chains.map((c) => c.next).filter(Boolean);
  say(status, from.length ? `Paused. Resume continues from index ${Math.min(...from)}.` : 'Paused.');
}

function resume() {
  say(alertBox, '');
  run();
}

/** run starts every chain; they end together when stopped. */
function run() {
  const my = new AbortController();
  ctl = my;
  said = '';
  pauseBtn.disabled = false;
  pauseBtn.textContent = 'Pause';
  pauseBtn.setAttribute('aria-pressed', 'false');
  for (const c of chains) chain(c, my.signal);
}

/** chain keeps watching c.prefix until stopped, asking each time from
 * the index after the last event, and retrying when the member cannot be
 * reached. */
async function chain(c, signal) {
  let delay = 250;
  while (!signal.aborted) {
    let q = '?wait=true&recursive=true';
    if (c.next) q += `&waitIndex=${c.next}`;
    try {
      const res = await readKey(c.prefix, q, { raw: true, signal });
      // The member sends the headers as soon as the watch is registered;
      // X-Etcd-Index is where it starts (not readable across origins).
      const at = Number(res.headers.get('X-Etcd-Index'));
      if (c.next == null && at) c.next = at + 1;
      const now = `Watching ${chains.map((w) => w.prefix).join(', ')} on ${conn.base}.`;
      if (said !== now) say(status, (said = now), 'ok');
      delay = 250;
      const text = await res.body.text();
      // An empty answer: the member is stopping. Ask again (elsewhere).
      if (!text.trim()) continue;
      const ev = JSON.parse(text);
      addRow(ev);
      if (ev.node?.modifiedIndex) c.next = ev.node.modifiedIndex + 1;
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof ApiError && e.code === 401) { // etcd's code: history cleared
        cleared(e, c);
        return;
      }
      if (isAuthError(e)) { // HTTP 401: authentication
        refused(e, c);
        return;
      }
      if (e instanceof ApiError) {
        stop();
        pauseBtn.disabled = true;
        say(status, `The watch failed: ${describe(e)}`, 'error');
        return;
      }
      said = '';
      say(status, `Lost the watch (${e.message}). Retrying` + (c.next ? ` from index ${c.next}` : '') + '…', 'error');
      await sleep(delay, signal);
      delay = Math.min(delay * 2, 4000);
    }
  }
}

/** refused handles an HTTP 401 on chain c: a logged-in user who may not
 * watch the whole prefix watches the directories below it that they
 * could list instead; otherwise the watch stops and says why. */
function refused(e, c) {
  stop();
  const user = currentUser();
  const below = user && chains.length === 1 && c.prefix === prefix ? placesUnder(prefix) : [];
  if (below.length) {
    chains = below.map((p) => ({ prefix: p, next: c.next }));
    say(note, `${user} may not watch ${prefix} as a whole (etcd lets a user watch a prefix only with read permission on everything below it), ` +
      `so the page watches what ${user} may read below it: ${below.join(', ')}. Open more of ${user}'s directories in the Keys view to add them.`, 'warn');
    run();
    return;
  }
  pauseBtn.disabled = true;
  say(status, '');
  const hint = user ? ` A watch on a prefix needs read permission on everything below it: watch a prefix ${user} may read (open it in the Keys view first to watch it from here).` : ' Log in to watch it.';
  say(alertBox, `The watch was refused: ${describe(e)}.${hint}`, 'error');
}

function addRow(ev) {
  const n = ev.node || {};
  let value = n.dir ? '(directory)' : n.value;
  if (value === undefined) value = ev.prevNode && !ev.prevNode.dir ? `was: ${ev.prevNode.value}` : '';
  if (value.length > VALUE_CHARS) value = value.slice(0, VALUE_CHARS) + ' …';
  const tr = el('tr', { 'data-key': n.key, 'data-index': n.modifiedIndex, 'data-action': ev.action },
    el('td', {}, clock(new Date())),
    el('td', {}, el('span', { class: `action action-${ev.action}` }, ev.action)),
    el('td', {}, el('code', {}, n.key)),
    el('td', { class: 'val' }, value),
    el('td', { class: 'num' }, String(n.modifiedIndex)));
  rows.prepend(tr);
  while (rows.childElementCount > MAX_ROWS) rows.lastElementChild.remove();
}

/** cleared explains etcd's error 401 on chain c: the member keeps only
 * its last events, and some after the last index seen are gone. etcd's
 * cause ends with [oldest kept/asked for]; watching can go on from the
 * oldest kept. */
function cleared(e, c) {
  stop();
  pauseBtn.disabled = true;
  const asked = c.next;
  const m = /\[(\d+)\/(\d+)\]/.exec(e.cause);
  const oldest = m ? Number(m[1]) : null;
  const lost = oldest ? `the events from index ${asked} to ${oldest - 1}` : `the events from index ${asked} on`;
  say(status, '');
  alertBox.replaceChildren(
    el('p', {}, `The history was cleared: the member keeps only its most recent events, so ${lost} are gone and any change under ${c.prefix} among them is missing from this list. etcd said: “${e.message}” (${e.cause}).`),
    el('div', { class: 'row' },
      oldest ? el('button', { type: 'button', id: 'watch-from-oldest', onclick: () => goOn(c, oldest) }, `Go on from index ${oldest}, the oldest kept`) : null,
      el('button', { type: 'button', id: 'watch-from-now', onclick: () => goOn(c, null) }, 'Go on from now')));
  alertBox.dataset.kind = 'error';
  alertBox.hidden = false;
  rows.prepend(el('tr', { class: 'gap' }, el('td', { colspan: '5' }, `Missing here: ${lost}.`)));
}

/** goOn resumes after a cleared history, chain c from index (or from
 * now), the others from where they were. */
function goOn(c, index) {
  c.next = index;
  say(alertBox, '');
  run();
}
