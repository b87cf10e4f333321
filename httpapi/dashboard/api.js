// api.js: every request the dashboard makes goes through request(). It
// is the one place that
//   - picks the member to talk to (conn.base) and moves to another
//     member's client URL when that one stops answering;
//   - bounds each call with a timeout;
//   - turns etcd's error bodies into ApiError values;
//   - will add the Authorization header and answer HTTP 401 with a login
//     form once v2 authentication exists (issue 16): see `auth`.

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

/** Authentication hooks. v2 authentication does not exist in this server
 * yet; issue 16 adds a login form that fills headers() and replaces
 * unauthorized(). */
export const auth = {
  headers() {
    return {};
  },
  unauthorized(err) {
    err.message = 'This member asks for credentials (v2 authentication), which the dashboard cannot send yet.';
  },
};

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
 * base (a fixed member URL: no switching), text, raw.
 */
export async function request(path, opts = {}) {
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
  const init = { method: opts.method || 'GET', signal: ctl.signal, cache: 'no-store', headers: { ...auth.headers() } };
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
      const err = new ApiError(res.status, body);
      if (res.status === 401) auth.unauthorized(err);
      throw err;
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

/** keyURL is the /v2/keys URL path of a key ("/" for the root). */
export function keyURL(key) {
  return '/v2/keys' + key.split('/').map(encodeURIComponent).join('/');
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
