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

import { request, keyURL, describe, conn, ApiError } from './api.js';
import { $, el, say, clock, sleep, cleanKey } from './dom.js';

/** Rows kept in the list; older ones are dropped. */
const MAX_ROWS = 500;
/** Characters of a value shown in a row. */
const VALUE_CHARS = 200;

const rows = $('#watch-events');
const status = $('#watch-status');
const alertBox = $('#watch-alert');
const pauseBtn = $('#watch-pause');

let prefix = '/';
let next = null; // waitIndex to resume from: last event's index + 1
let ctl = null; // aborts the running watch
let started = false;

export function initWatch() {
  $('#watch-form').addEventListener('submit', (e) => {
    e.preventDefault();
    start($('#watch-prefix').value);
  });
  pauseBtn.addEventListener('click', () => (ctl ? pause() : resume()));
  $('#watch-clear').addEventListener('click', () => rows.replaceChildren());
}

/** showWatch starts watching "/" the first time the view is opened. */
export function showWatch() {
  if (!started) start($('#watch-prefix').value);
}

function start(p) {
  started = true;
  stop();
  prefix = cleanKey(p || '/');
  $('#watch-prefix').value = prefix;
  next = null;
  rows.replaceChildren();
  say(alertBox, '');
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
  say(status, next ? `Paused. Resume continues from index ${next}.` : 'Paused.');
}

function resume() {
  say(alertBox, '');
  run();
}

/** run keeps watching until stopped, asking each time from the index
 * after the last event, and retrying when the member cannot be reached. */
async function run() {
  const my = new AbortController();
  ctl = my;
  pauseBtn.disabled = false;
  pauseBtn.textContent = 'Pause';
  pauseBtn.setAttribute('aria-pressed', 'false');
  let delay = 250;
  let said = '';
  while (!my.signal.aborted) {
    let q = '?wait=true&recursive=true';
    if (next) q += `&waitIndex=${next}`;
    try {
      const res = await request(keyURL(prefix) + q, { raw: true, signal: my.signal });
      // The member sends the headers as soon as the watch is registered;
      // X-Etcd-Index is where it starts (not readable across origins).
      const at = Number(res.headers.get('X-Etcd-Index'));
      if (next == null && at) next = at + 1;
      const now = `Watching ${prefix} on ${conn.base}.`;
      if (said !== now) say(status, (said = now), 'ok');
      delay = 250;
      const text = await res.body.text();
      // An empty answer: the member is stopping. Ask again (elsewhere).
      if (!text.trim()) continue;
      const ev = JSON.parse(text);
      addRow(ev);
      if (ev.node?.modifiedIndex) next = ev.node.modifiedIndex + 1;
    } catch (e) {
      if (my.signal.aborted) return;
      if (e instanceof ApiError && e.code === 401) {
        cleared(e);
        return;
      }
      if (e instanceof ApiError) {
        stop();
        pauseBtn.disabled = true;
        say(status, `The watch failed: ${describe(e)}`, 'error');
        return;
      }
      said = '';
      say(status, `Lost the watch (${e.message}). Retrying` + (next ? ` from index ${next}` : '') + '…', 'error');
      await sleep(delay, my.signal);
      delay = Math.min(delay * 2, 4000);
    }
  }
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

/** cleared explains error 401: the member keeps only its last events,
 * and some after the last index seen are gone. etcd's cause ends with
 * [oldest kept/asked for]; watching can go on from the oldest kept. */
function cleared(e) {
  stop();
  pauseBtn.disabled = true;
  const asked = next;
  const m = /\[(\d+)\/(\d+)\]/.exec(e.cause);
  const oldest = m ? Number(m[1]) : null;
  const lost = oldest ? `the events from index ${asked} to ${oldest - 1}` : `the events from index ${asked} on`;
  say(status, '');
  alertBox.replaceChildren(
    el('p', {}, `The history was cleared: the member keeps only its most recent events, so ${lost} are gone and any change under ${prefix} among them is missing from this list. etcd said: “${e.message}” (${e.cause}).`),
    el('div', { class: 'row' },
      oldest ? el('button', { type: 'button', id: 'watch-from-oldest', onclick: () => goOn(oldest) }, `Go on from index ${oldest}, the oldest kept`) : null,
      el('button', { type: 'button', id: 'watch-from-now', onclick: () => goOn(null) }, 'Go on from now')));
  alertBox.dataset.kind = 'error';
  alertBox.hidden = false;
  rows.prepend(el('tr', { class: 'gap' }, el('td', { colspan: '5' }, `Missing here: ${lost}.`)));
}

/** goOn resumes after a cleared history, from index (or from now). */
function goOn(index) {
  next = index;
  say(alertBox, '');
  run();
}
