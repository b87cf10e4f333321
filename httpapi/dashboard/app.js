// app.js: starts the dashboard. The three views are sections of one page,
// chosen by the URL fragment (#/keys, #/watch, #/cluster) so that links,
// reloads and the back button work.

import { conn, onConnChange, refreshMembers } from './api.js';
import { $, el } from './dom.js';
import { initAuth } from './auth.js';
import { initKeys } from './keys.js';
import { initCreate } from './create.js';
import { initWatch, showWatch } from './watch.js';
import { showCluster } from './cluster.js';
import { startSampling } from './chart.js';

const VIEWS = { keys: 'Keys', watch: 'Watch', cluster: 'Cluster' };
/** The member list (failover's candidates) is refreshed this often even
 * when the Cluster view is not open. */
const MEMBERS_MS = 15000;

function route(moveFocus) {
  const m = /^#\/(\w+)/.exec(location.hash);
  const view = m && VIEWS[m[1]] ? m[1] : 'keys';
  for (const v of Object.keys(VIEWS)) {
    $(`#view-${v}`).hidden = v !== view;
    const link = $(`#nav-${v}`);
    if (v === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${VIEWS[view]} · etcd-classic`;
  if (view === 'watch') showWatch();
  showCluster(view === 'cluster');
  // Tell screen readers and keyboard users where they landed.
  if (moveFocus) $(`#h-${view}`).focus();
}

function showConn(reason) {
  const box = $('#conn');
  const link = el('a', { href: conn.base + '/dashboard/', id: 'conn-base' }, conn.base);
  if (conn.down) {
    // Nothing answers this page: offer the other members' own dashboards
    // (opening one needs no --cors).
    const others = conn.members.map((m) => m.clientURLs[0]).filter((u) => u && u !== conn.base);
    box.replaceChildren(`${conn.base} is not answering, and no other member answered this page (do they allow its origin with --cors?).`,
      ...(others.length ? [' Open the dashboard on ', ...others.flatMap((u, i) => [i ? ', ' : '', el('a', { href: u + '/dashboard/' }, u)])] : []));
    box.dataset.kind = 'error';
    return;
  }
  if (conn.base === conn.origin) {
    box.replaceChildren('Talking to ', link);
    delete box.dataset.kind;
  } else {
    box.replaceChildren(`${reason || conn.origin + ' stopped answering'}; now talking to `, link);
    box.dataset.kind = 'warn';
  }
}

async function members() {
  try {
    await refreshMembers();
  } catch { /* kept from the last time; the views report errors */ }
}

initAuth(); // first: the other views' first calls already need its hooks
initCreate();
initKeys();
initWatch();
onConnChange(showConn);
showConn();
window.addEventListener('hashchange', () => route(true));
route(false);
members();
setInterval(members, MEMBERS_MS);
startSampling();
