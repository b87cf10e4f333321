// api.js: every request the dashboard makes goes through request(). It
// is the one place that
//   - picks the member to talk to (conn.base) and moves to another
//     member's client URL when that one stops answering;
//   - bounds each call with a timeout;
//   - turns etcd's error bodies into ApiError values;
//   - adds the Authorization header of the logged-in user to every call,
//     to whichever member it goes, and hands every HTTP 401 to the login
//     code (auth.js fills the `auth` hooks).

/** How long an ordinary request may take, in milliseconds. */
export const TIMEOUT_MS = 10000;

/** An answer with a status outside 2xx. code, cause and index are etcd's
 * errorCode, cause and index when the body is an etcd error. */
export class ApiError extends Error {
  constructor(status, body) {
    const b = body && typeof body === 'object' ? body : {};
    super(b.message || (typeof body === 'string' && body.trim()) || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = b.errorCode ?? null;
    this.cause = b.cause ?? '';
    this.index = b.index ?? null;
  }
}

/** The member could not be reached, did not answer in time, or (for
 * another member's URL) does not allow this page's origin (--cors). */
export class NetError extends Error {
  constructor(message) {
    super(message);
    this.name = 'NetError';
  }
}

/** Where the page came from, where requests go now, the members known
 * from /v2/members, and whether the current member and every other one
 * failed to answer the last request (down). */
export const conn = {
  origin: location.origin,
  base: location.origin,
  members: [],
  down: false,
};

const listeners = new Set();

/** onConnChange calls fn(reason) whenever conn.base changes. */
export function onConnChange(fn) {
  listeners.add(fn);
}

function setBase(base, reason) {
  conn.base = base;
  conn.down = false;
  for (const fn of listeners) fn(reason);
}

function setDown(down) {
  if (conn.down === down) return;
  conn.down = down;
  for (const fn of listeners) fn('');
}

/** Authentication hooks, filled by auth.js: user is who is logged in
 * ('' for the guest); headers() is added to every call (that user's Basic
 * credentials, or nothing); unauthorized(err, path, method) sees every
 * HTTP 401 answer (unless the call asked for quiet401) and rewrites its
 * message. */
export const auth = {
  user: '',
  headers() {
    return {};
  },
  unauthorized() {},
};

/** isAuthError tells an HTTP 401 (v2 authentication refused the call:
 * etcd error 110, or {"message":"Insufficient credentials"} on
 * /v2/members and /v2/auth) from everything else. Not to be confused
 * with etcd's error *code* 401 ("The event in requested index is outdated
 * and cleared", sent with HTTP 400): that one is err.code, this one is
 * err.status. */
export function isAuthError(err) {
  return err instanceof ApiError && err.status === 401;
}

/**
 * request sends one call to the current member (or to opts.base) and
 * returns {status, headers, body}: body is parsed JSON, or text with
 * opts.text, or the unread Response with opts.raw (for watches: it
 * returns as soon as the headers are in, and has no timeout unless one
 * is given).
 *
 * When the member cannot be reached, request moves to another member
 * that answers and, for a GET, sends the call again there. A write is
 * never sent twice: its answer was lost, so it may have been applied;
 * the error says so (maybeApplied) and the caller reports it.
 *
 * opts: method, form (an object of form fields), signal, timeout (ms),
 * base (a fixed member URL: no switching), text, raw, headers (added to,
 * or replacing, the logged-in user's), quiet401 (an HTTP 401 is thrown
 * as it came, without telling the login code).
 */
export async function request(path, opts = {}) {
  try {
    return await attempt(path, opts);
  } catch (err) {
    if (isAuthError(err) && !opts.quiet401) auth.unauthorized(err, path, opts.method || 'GET');
    throw err;
  }
}

async function attempt(path, opts) {
  const fixed = opts.base !== undefined;
  const base = fixed ? opts.base : conn.base;
  try {
    const res = await send(base, path, opts);
    if (!fixed) setDown(false);
    return res;
  } catch (err) {
    if (!(err instanceof NetError) || fixed || opts.signal?.aborted) throw err;
    const next = await failover(base);
    if (!next) {
      setDown(true);
      throw err;
    }
    const method = opts.method || 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      err.maybeApplied = true;
      err.message += `; the write may or may not have been applied (now using ${next})`;
      throw err;
    }
    return send(next, path, opts);
  }
}

async function send(base, path, opts) {
  const timeout = opts.timeout ?? (opts.raw ? 0 : TIMEOUT_MS);
  const ctl = new AbortController();
  const outer = opts.signal;
  if (outer) {
    if (outer.aborted) ctl.abort();
    else outer.addEventListener('abort', () => ctl.abort(), { once: true });
  }
  let timedOut = false;
  const timer = timeout > 0 ? setTimeout(() => { timedOut = true; ctl.abort(); }, timeout) : 0;
  const init = { method: opts.method || 'GET', signal: ctl.signal, cache: 'no-store', headers: { ...auth.headers(), ...opts.headers } };
  if (opts.form) init.body = new URLSearchParams(opts.form);
  try {
    let res;
    try {
      res = await fetch(base + path, init);
    } catch (e) {
      if (outer?.aborted) throw e;
      throw new NetError(timedOut ? `${base} did not answer within ${timeout / 1000} s` : `${base} cannot be reached`);
    }
    if (!res.ok) {
      const text = await readText(res, base, outer, () => timedOut);
      let body = text;
      try { body = JSON.parse(text); } catch { /* not JSON: keep the text */ }
      throw new ApiError(res.status, body);
    }
    if (opts.raw) return { status: res.status, headers: res.headers, body: res };
    const text = await readText(res, base, outer, () => timedOut);
    let body = text;
    if (!opts.text) {
      try { body = JSON.parse(text); } catch { throw new ApiError(res.status, `not JSON: ${text.slice(0, 80)}`); }
    }
    return { status: res.status, headers: res.headers, body };
  } finally {
    clearTimeout(timer);
  }
}

async function readText(res, base, outer, timedOut) {
  try {
    return await res.text();
  } catch (e) {
    if (outer?.aborted) throw e;
    throw new NetError(timedOut() ? `${base} did not finish its answer in time` : `${base} closed the connection`);
  }
}

let switching = null;

/** failover finds a member that answers, other than `from`, and makes it
 * the current one. It returns its URL, or null when none answers. */
async function failover(from) {
  if (conn.base !== from) return conn.base; // another call switched already
  if (switching) return switching;
  switching = (async () => {
    const urls = [...conn.members.map((m) => m.clientURLs[0]), conn.origin];
    for (const url of new Set(urls)) {
      if (!url || url === from) continue;
      try {
        await send(url, '/version', { timeout: 3000 });
        setBase(url, `${from} stopped answering`);
        return url;
      } catch { /* try the next member */ }
    }
    return null;
  })();
  try {
    return await switching;
  } finally {
    switching = null;
  }
}

/** refreshMembers reads /v2/members (the list failover chooses from). */
export async function refreshMembers() {
  const { body } = await request('/v2/members', { timeout: 5000 });
  conn.members = (body.members || []).map((m) => ({ ...m, clientURLs: (m.clientURLs || []).map(trimSlash) }));
  return conn.members;
}

function trimSlash(u) {
  return u.replace(/\/+$/, '');
}

/** keyURL is the /v2/keys URL path of a key ("/" for the root); with
 * dirForm, a trailing slash is added (see readKey). */
export function keyURL(key, dirForm = false) {
  const u = '/v2/keys' + key.split('/').map(encodeURIComponent).join('/');
  return dirForm && key !== '/' ? u + '/' : u;
}

/** "user\nkey" for the keys whose plain path was refused but whose
 * directory form was let through: those are asked in the directory form
 * straight away. */
const dirForms = new Set();

/** forgetDirForms drops what readKey learnt (at log out). */
export function forgetDirForms() {
  dirForms.clear();
}

/**
 * readKey GETs a key or a directory (query: '?sorted=true',
 * '?wait=true&…'; opts as for request) and answers as request does.
 *
 * etcd checks a permission against the path as the client wrote it (etcd
 * 2.x and 3.4 alike, and so does this server): a role granting "/app/*"
 * lets its user read /v2/keys/app/ but not /v2/keys/app, although both
 * name the same directory. So when the plain path is refused with HTTP
 * 401, the directory form is asked once before the refusal is reported.
 * With auth off, or as root, nothing is refused and nothing asked twice.
 * opts.as names the user of opts.headers, when they are not the logged-in
 * user's.
 */
export async function readKey(key, query = '', opts = {}) {
  const who = `${opts.as ?? auth.user}\n${key}`;
  if (key !== '/' && !dirForms.has(who)) {
    try {
      return await request(keyURL(key) + query, { ...opts, quiet401: true });
    } catch (err) {
      if (!isAuthError(err)) throw err;
    }
  }
  const res = await request(keyURL(key, true) + query, opts);
  if (key !== '/') {
    if (dirForms.size > 1000) dirForms.clear();
    dirForms.add(who);
  }
  return res;
}

/** describe turns an error into one sentence for the page. */
export function describe(err) {
  if (err instanceof ApiError) {
    let s = err.code != null ? `${err.message} (etcd error ${err.code}` : `${err.message} (HTTP ${err.status}`;
    if (err.cause) s += `: ${err.cause}`;
    return s + ')';
  }
  return err?.message || String(err);
}
