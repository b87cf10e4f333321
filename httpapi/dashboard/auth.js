// auth.js: logging in with etcd's v2 users (README "Authentication").
// The member answers HTTP 401 when authentication is on and the caller
// may not do what it asked; the page then shows the login form, sends
// the user's Basic credentials with every call from then on (api.js adds
// them, to whichever member it talks to), and says who is logged in.
//
// The credentials live in this module's memory only, for as long as the
// tab shows the page: not in sessionStorage or localStorage (both are
// written to disk and readable by any script of the origin; localStorage
// even outlives the browser). A reload asks again. docs/dashboard.md says
// why.
//
// etcd gives one answer to a wrong password and to a right one without
// the permission (401, error 110), and only root may read a user's roles.
// So a login is checked by reading the path the user says they may read
// ("Start at"), and the page remembers the directories the user could
// list (places): the Keys tree offers them when a directory above them is
// refused, and the Watch view watches them when the user may not watch a
// whole prefix.

import { auth, conn, readKey, request, describe, isAuthError, forgetDirForms } from './api.js';
import { $, say, cleanKey } from './dom.js';

let secret = ''; // the Authorization header of the logged-in user
let enabled = false; // the member said auth is on, or refused a call
let dismissed = false; // "Not now": refusals do not open the form again
let autoStart = ''; // what the page itself put in "Start at"
const places = new Set(); // directories the logged-in user listed
const listeners = new Set();

const panel = $('#login');
const form = $('#login-form');
const msg = $('#login-msg');

/** currentUser is who is logged in ('' when nobody is). */
export function currentUser() {
  return auth.user;
}

/** onAuthChange calls fn({kind: 'login', node, start}) after a login
 * (node: what "Start at" named, null if it does not exist) and
 * fn({kind: 'logout'}) after a log out. */
export function onAuthChange(fn) {
  listeners.add(fn);
}

/** notePlace records that the logged-in user could list directory dir. */
export function notePlace(dir) {
  if (auth.user) places.add(dir);
}

/** placesUnder is the directories strictly below prefix that the user
 * listed, without those inside another one of them, sorted. */
export function placesUnder(prefix) {
  const below = [...places].filter((p) => p !== prefix && p.startsWith(prefix === '/' ? '/' : prefix + '/')).sort();
  return below.filter((p) => !below.some((q) => q !== p && p.startsWith(q + '/')));
}

/** initAuth wires the login form and the api.js hooks, and asks the
 * member whether authentication is on (GET /v2/auth/enable is open to
 * all) to show the log-in button. */
export function initAuth() {
  auth.headers = () => (secret ? { Authorization: secret } : {});
  auth.unauthorized = refused;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    login();
  });
  $('#login-cancel').addEventListener('click', () => {
    dismissed = true;
    panel.hidden = true;
  });
  $('#who-btn').addEventListener('click', () => (auth.user ? logout() : showLogin('', true)));
  showWho();
  request('/v2/auth/enable', { timeout: 5000 }).then(({ body }) => {
    if (body.enabled) {
      enabled = true;
      showWho();
    }
  }, () => { /* an older member, or none answers: no button */ });
}

/** refused is api.js's hook for every HTTP 401: it says who was refused
 * what, and asks for a login when nobody is logged in. */
function refused(err, path, method) {
  enabled = true;
  const { verb, key } = what(path, method);
  if (auth.user) {
    err.message = `${auth.user} may not ${verb} ${key}`;
    return;
  }
  err.message = `Not logged in, and a guest may not ${verb} ${key}`;
  err.needsLogin = true;
  showWho();
  // The login checks "Start at" and then shows it: offer the key that
  // was refused, unless the user typed something there.
  const startField = $('#login-start');
  if (verb === 'read' && key !== '/' && startField.value === autoStart) startField.value = autoStart = key;
  if (panel.hidden && !dismissed) showLogin(`This member has authentication on and refused a guest (no user) to ${verb} ${key}. Log in as a user who may.`, false);
}

/** what names the action of a call and its key, for messages. */
function what(path, method) {
  const [p, q = ''] = path.split('?');
  if (!p.startsWith('/v2/keys')) return { verb: 'use', key: p };
  let key = p.slice('/v2/keys'.length);
  try {
    key = decodeURIComponent(key);
  } catch { /* keep it encoded */ }
  key = cleanKey(key);
  if (method === 'GET' || method === 'HEAD') return { verb: /(^|&)wait=true/.test(q) ? 'watch' : 'read', key };
  if (method === 'DELETE') return { verb: 'delete', key };
  if (method === 'POST') return { verb: 'create keys in', key };
  return { verb: 'write', key };
}

/** showLogin opens the form; why says what made the page ask. */
function showLogin(why, focus) {
  say($('#login-why'), why);
  say(msg, '');
  clearTextWarning();
  const wasHidden = panel.hidden;
  panel.hidden = false;
  // Take the focus only when nothing else has it (the page just loaded,
  // or the user asked for the form), not from someone typing elsewhere.
  if (focus || (wasHidden && (document.activeElement === document.body || !document.activeElement))) $('#login-user').focus();
}

/** clearTextWarning warns when the password would cross the network in
 * clear: the member the page talks to is reached over plain HTTP. */
function clearTextWarning() {
  const u = new URL(conn.base);
  const box = $('#login-clear');
  if (u.protocol !== 'http:') {
    say(box, '');
    return;
  }
  const loopback = u.hostname === 'localhost' || u.hostname.endsWith('.localhost') || u.hostname.startsWith('127.') || u.hostname === '[::1]';
  say(box, `This page talks to ${conn.base} over plain HTTP: the password crosses the network in clear, readable by anyone who can see the traffic. ` +
    'Use the member\'s https:// client URL (members started with --cert-file and --key-file).' +
    (loopback ? ' (This address is this computer\'s loopback, so here it does not leave the machine.)' : ''), 'warn');
}

/** basic is the Authorization header for user and password (UTF-8, as
 * Go's Request.BasicAuth reads it). */
function basic(user, password) {
  let bin = '';
  for (const b of new TextEncoder().encode(`${user}:${password}`)) bin += String.fromCharCode(b);
  return 'Basic ' + btoa(bin);
}

/** login checks the credentials by reading "Start at" with them, and
 * keeps them only if the member let that read through. */
async function login() {
  const user = $('#login-user').value.trim();
  const pw = $('#login-password').value;
  const start = cleanKey($('#login-start').value || '/');
  if (!user || user.includes(':')) {
    say(msg, user ? 'A user name cannot contain ":" (HTTP basic authentication cannot carry it).' : 'Give the user name.', 'error');
    return;
  }
  const header = basic(user, pw);
  const ok = $('#login-ok');
  ok.disabled = true;
  say(msg, `Checking ${user} by reading ${start}…`);
  let node = null;
  try {
    node = (await readKey(start, '', { headers: { Authorization: header }, as: user, quiet401: true })).body.node;
  } catch (err) {
    if (isAuthError(err)) {
      say(msg, `Refused: ${user} could not read ${start}. Either the user name or the password is wrong, or ${user} may not read ${start}: ` +
        'etcd gives both the same answer (error 110), so the page cannot tell which. If the password is right, start at a key or directory this user may read.', 'error');
      return;
    }
    if (err.code !== 100) {
      say(msg, describe(err), 'error');
      return;
    }
    // Error 100 (no such key): the member checks the permission before
    // it looks for the key, so the credentials passed.
  } finally {
    ok.disabled = false;
  }
  places.clear();
  auth.user = user;
  secret = header;
  enabled = true;
  if (node?.dir) places.add(node.key || '/');
  form.reset();
  autoStart = '';
  panel.hidden = true;
  showWho();
  for (const fn of listeners) fn({ kind: 'login', node, start });
}

/** logout forgets the credentials and shows the login form again. */
function logout() {
  const was = auth.user;
  auth.user = '';
  secret = '';
  places.clear();
  forgetDirForms();
  showWho();
  for (const fn of listeners) fn({ kind: 'logout' });
  showLogin(`${was} is logged out; the page forgot the password.`, true);
}

/** showWho fills the header: who is logged in and the button to log in
 * or out (nothing while the member has not shown that auth is on). */
function showWho() {
  const box = $('#who');
  box.hidden = !enabled && !auth.user;
  $('#who-text').textContent = auth.user ? `Logged in as ${auth.user}` : 'Not logged in';
  $('#who-btn').textContent = auth.user ? 'Log out' : 'Log in';
}
