// chart.js: the small charts of the Cluster view. While the page is
// visible, the member the page talks to is sampled every two seconds
// (/v2/stats/store and /metrics, both cheap local reads) and the last
// five minutes are kept in memory and drawn as hand-written SVG.

import { request, conn } from './api.js';
import { $, el, svg, num, bytes } from './dom.js';

const SAMPLE_MS = 2000;
const KEEP_MS = 5 * 60 * 1000;
const W = 300;
const H = 80;

/** The store counters whose sum is "writes": every successful change and
 * every expiry this member applied. */
const WRITES = ['setsSuccess', 'deleteSuccess', 'updateSuccess', 'createSuccess',
  'compareAndSwapSuccess', 'compareAndDeleteSuccess', 'expireCount'];

const series = {
  writes: { points: [], fmt: (v) => num(v, v < 10 ? 1 : 0), unit: 'writes/s' },
  watchers: { points: [], fmt: (v) => num(v), unit: 'watchers' },
  heap: { points: [], fmt: bytes, unit: '' },
};

let last = null; // {t, writes, base}: the previous sample
let visible = false;
let busy = false;

/** startSampling samples now and every SAMPLE_MS while the tab is shown. */
export function startSampling() {
  sample();
  setInterval(sample, SAMPLE_MS);
}

/** showCharts turns drawing on or off (the Cluster view is shown). */
export function showCharts(on) {
  visible = on;
  if (on) draw();
}

/** parseMetrics reads the Prometheus text format into name → value
 * (series with labels are left out). */
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*) ([-+0-9.eE]+|NaN)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

async function sample() {
  if (document.visibilityState !== 'visible' || busy) return;
  busy = true;
  try {
    const base = conn.base;
    const [st, met] = await Promise.allSettled([
      request('/v2/stats/store', { timeout: 3000 }),
      request('/metrics', { timeout: 3000, text: true }),
    ]);
    const t = Date.now();
    if (st.status === 'fulfilled') {
      const s = st.value.body;
      const writes = WRITES.reduce((sum, f) => sum + (s[f] || 0), 0);
      // A rate needs two samples from the same member (each member
      // counts from its own start).
      if (last && last.base === base && writes >= last.writes && t > last.t) {
        push('writes', t, ((writes - last.writes) * 1000) / (t - last.t));
      }
      last = { t, writes, base };
      push('watchers', t, s.watchers);
    }
    if (met.status === 'fulfilled') {
      const m = parseMetrics(met.value.body);
      if (m.go_memstats_heap_inuse_bytes != null) push('heap', t, m.go_memstats_heap_inuse_bytes);
    }
    $('#chart-source').textContent = `(sampled from ${base} every ${SAMPLE_MS / 1000} s)`;
    if (visible) draw();
  } finally {
    busy = false;
  }
}

function push(name, t, v) {
  const p = series[name].points;
  p.push({ t, v });
  while (p.length && p[0].t < t - KEEP_MS) p.shift();
}

function draw() {
  drawOne($('#chart-writes'), series.writes);
  drawOne($('#chart-watchers'), series.watchers);
  drawOne($('#chart-heap'), series.heap);
}

/** drawOne redraws one figure: a line and a shaded area over the last
 * five minutes, the peak as a dashed line, and the figures in words. */
function drawOne(fig, s) {
  const pts = s.points;
  const now = Date.now();
  const peak = pts.reduce((m, p) => Math.max(m, p.v), 0);
  const top = niceCeil(peak);
  // Until five minutes of samples exist, the chart spans what there is.
  const span = pts.length ? Math.min(KEEP_MS, Math.max(now - pts[0].t, 10 * SAMPLE_MS)) : KEEP_MS;
  const x = (t) => ((t - (now - span)) / span) * W;
  const y = (v) => H - (v / top) * (H - 4);
  const caption = fig.dataset.title;
  const cur = pts.length ? s.fmt(pts[pts.length - 1].v) : '–';
  const over = span < 90000 ? `${Math.round(span / 1000)} s` : `${Math.round(span / 60000)} min`;
  const words = pts.length ? `${caption}: now ${cur}, peak ${s.fmt(peak)} over the last ${over}` : `${caption}: no sample yet`;
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': words });
  chart.append(svg('line', { x1: 0, x2: W, y1: y(top), y2: y(top), class: 'grid', 'vector-effect': 'non-scaling-stroke' }));
  if (pts.length) {
    const line = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
    chart.append(svg('path', { d: `${line}L${x(pts[pts.length - 1].t).toFixed(1)},${H}L${x(pts[0].t).toFixed(1)},${H}Z`, class: 'area' }));
    chart.append(svg('path', { d: line, class: 'line', 'vector-effect': 'non-scaling-stroke' }));
  }
  const old = fig.querySelector('svg');
  if (old) old.replaceWith(chart);
  else fig.prepend(chart);
  fig.querySelector('figcaption').replaceChildren(`${caption}: `, el('strong', {}, cur), pts.length ? ` (peak ${s.fmt(peak)}, last ${over})` : '');
  fig.dataset.points = String(pts.length);
  fig.title = words;
}

/** niceCeil rounds a peak up to 1, 2 or 5 times a power of ten, so the
 * scale does not jump with every sample. */
function niceCeil(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
