// cluster.js: the Cluster view. Every two seconds while it is shown:
// the member list (/v2/members, /v2/members/leader), each member's own
// /health and /metrics (raft term and index), and the leader's
// /v2/stats/leader (latency and append counts per follower). Asking a
// member other than the one the page talks to is a cross-origin request:
// it needs --cors on that member (docs/dashboard.md).

import { request, conn, refreshMembers, ApiError } from './api.js';
import { $, el, say, num } from './dom.js';
import { parseMetrics, showCharts } from './chart.js';

const POLL_MS = 2000;
const PROBE_MS = 3000;
/** After a member refused this page's origin, it is only checked for
 * being up (no-cors) for this long before CORS is tried again. */
const CORS_RETRY_MS = 30000;

const cards = $('#members');
const status = $('#cluster-status');
const hint = $('#cluster-hint');
let shown = false;
let timer = 0;
let polling = false;
const corsRefused = new Map(); // member URL → when it refused the origin

/** showCluster starts (on) or stops polling. */
export function showCluster(on) {
  shown = on;
  showCharts(on);
  clearTimeout(timer);
  if (on) poll();
}

async function poll() {
  if (polling) return;
  polling = true;
  try {
    await refresh();
  } catch (e) {
    say(status, `Cannot read the member list: ${e.message}`, 'error');
  } finally {
    polling = false;
    clearTimeout(timer);
    if (shown) timer = setTimeout(poll, POLL_MS);
  }
}

async function refresh() {
  const members = [...(await refreshMembers())].sort((a, b) => (a.name || '~').localeCompare(b.name || '~'));
  let leaderID = '';
  try {
    leaderID = (await request('/v2/members/leader', { timeout: PROBE_MS })).body.id;
  } catch { /* during an election there is none */ }
  const probes = await Promise.all(members.map((m) => probe(m.clientURLs[0])));
  const leader = members.find((m) => m.id === leaderID);
  let followers = {};
  if (leader?.clientURLs[0] && probes[members.indexOf(leader)].readable) {
    try {
      followers = (await request('/v2/stats/leader', { base: leader.clientURLs[0], timeout: PROBE_MS })).body.followers || {};
    } catch { /* it stopped leading meanwhile */ }
  }
  const list = members.map((m, i) => card(m, probes[i], m.id === leaderID, followers[m.id]));
  // The page's own address is not a member's client URL: it came through
  // a proxy (etcd --proxy), or through a name the members do not
  // advertise.
  if (!members.some((m) => m.clientURLs.includes(conn.origin))) list.unshift(proxyCard());
  cards.replaceChildren(...list);
  cards.setAttribute('aria-busy', 'false');
  const healthy = probes.filter((p) => p.health === 'healthy').length;
  say(status, `${members.length} members, ${healthy} healthy` + (leaderID ? '.' : '; no leader right now.'), healthy === members.length ? 'ok' : 'error');
  const refused = probes.some((p) => p.health === 'up');
  say(hint, refused ? `Some members do not allow this page's origin (${conn.origin}), so only whether they are up is shown. Start the members with --cors listing every member's client URL to see everything (and to let this page move to another member if this one stops).` : '', 'warn');
}

/** probe reads one member's health and raft figures. health is
 * "healthy", "unhealthy" (up, but no leader or no quorum), "up" (answers,
 * but refuses this origin: --cors), "unreachable" or "not started". */
async function probe(url) {
  if (!url) return { health: 'not started' };
  const since = corsRefused.get(url);
  if (url !== conn.origin && since && Date.now() - since < CORS_RETRY_MS) {
    return { health: (await reachable(url)) ? 'up' : 'unreachable' };
  }
  const out = { readable: true };
  try {
    const { body } = await request('/health', { base: url, timeout: PROBE_MS });
    out.health = body.health === 'true' ? 'healthy' : 'unhealthy';
  } catch (e) {
    if (e instanceof ApiError) {
      out.health = 'unhealthy';
    } else if (url !== conn.origin && (await reachable(url))) {
      corsRefused.set(url, Date.now());
      return { health: 'up' };
    } else {
      return { health: 'unreachable' };
    }
  }
  corsRefused.delete(url);
  try {
    Object.assign(out, parseMetrics((await request('/metrics', { base: url, timeout: PROBE_MS, text: true })).body));
  } catch { /* figures stay unknown */ }
  return out;
}

/** reachable tells whether anything answers at url, without reading the
 * answer (an opaque no-cors request needs no CORS permission). */
async function reachable(url) {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), PROBE_MS);
  try {
    await fetch(url + '/version', { mode: 'no-cors', cache: 'no-store', signal: ctl.signal });
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(t);
  }
}

const healthWords = { healthy: 'healthy', unhealthy: 'unhealthy', up: 'up (details need --cors)', unreachable: 'unreachable', 'not started': 'not started' };

function card(m, p, isLeader, fstats) {
  const role = m.isLearner ? 'learner' : isLeader ? 'leader' : 'follower';
  const facts = el('dl', { class: 'facts' });
  const fact = (name, ...v) => facts.append(el('dt', {}, name), el('dd', {}, ...v));
  fact('ID', el('code', {}, m.id));
  fact('Raft term', num(p.etcd_server_term));
  fact('Raft index', `${num(p.etcd_server_proposals_committed_total)} committed, ${num(p.etcd_server_proposals_applied_total)} applied`);
  fact('Client URLs', urls(m.clientURLs));
  fact('Peer URLs', urls(m.peerURLs));
  if (fstats) {
    const l = fstats.latency;
    fact('Seen from the leader', `latency ${ms(l.current)} now, ${ms(l.average)} average, ${ms(l.maximum)} max; ` +
      `${num(fstats.counts.success)} appends succeeded, ${num(fstats.counts.fail)} failed`);
  }
  const name = m.name || '(not started)';
  const badges = [el('span', { class: `role role-${role}` }, role), el('span', { class: `health health-${p.health.replace(' ', '-')}` }, healthWords[p.health])];
  if (m.clientURLs.includes(conn.base)) badges.push(el('span', { class: 'role' }, 'this page talks to it'));
  return el('article', { class: 'card', 'data-member': m.name, 'data-role': role, 'data-health': p.health, 'aria-label': `${name}: ${role}, ${healthWords[p.health]}` },
    el('h3', {}, name, ' ', ...badges), facts);
}

function proxyCard() {
  const facts = el('dl', { class: 'facts' });
  facts.append(el('dt', {}, 'Client URL'), el('dd', {}, el('code', {}, conn.origin)));
  facts.append(el('dt', {}, 'Note'), el('dd', {}, 'This page was served from an address that no member advertises: a proxy (etcd --proxy) or another name for a member.'));
  return el('article', { class: 'card', 'data-role': 'proxy' }, el('h3', {}, 'This page\'s address ', el('span', { class: 'role role-proxy' }, 'proxy')), facts);
}

function urls(list) {
  return list.length ? list.map((u) => el('code', { class: 'url' }, u)) : '–';
}

function ms(seconds) {
  return seconds == null ? '–' : `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1)} ms`;
}
