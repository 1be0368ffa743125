"""The one HTML page behind both the static report and the live dashboard.

A single self-contained page (inline CSS, JS and SVG; no network, no CDN) that
renders the page data from ``_pagedata``. The report embeds that data in the
page; the dashboard leaves it out and the same script polls the JSON API
instead -- so there is one renderer to keep correct. Everything user-supplied
is inserted with ``textContent``/attributes, never as markup.
"""

from __future__ import annotations

import html
import json
from typing import Any

_CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d2433;background:#f4f6fa}
header{background:#1d2b53;color:#fff;padding:14px 22px}header h1{margin:0;font-size:20px}header .sub{opacity:.8;font-size:13px}
main{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:16px;padding:16px 22px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002;padding:14px;min-width:0}
section.wide{grid-column:1/3}h2{font-size:15px;margin:0 0 10px;color:#1d2b53}
pre{background:#f0f2f7;padding:8px;border-radius:6px;white-space:pre-wrap;word-break:break-word;max-height:420px;overflow:auto;margin:4px 0}
.stats{display:flex;flex-wrap:wrap;gap:18px}.stat b{display:block;font-size:20px;color:#1d2b53}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#dde3f0;margin-left:6px}
.live{background:#2e9d5b;color:#fff}.diff .add{background:#dcf5e3}.diff .del{background:#fbe0e0;text-decoration:line-through}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #e3e7ef;padding:4px 6px;text-align:left;vertical-align:top}
img.side{max-width:320px;max-height:320px;border:1px solid #ccd;display:block;margin:4px 0}
dl{margin:0}dt{font-weight:600;color:#485470}dd{margin:0 0 6px 12px}.muted{color:#7a849a}.err{color:#b3261e}
svg text{font-size:11px;fill:#485470}.node{cursor:pointer}select{font-size:14px}
#evaluations td:nth-child(-n+3){width:90px;white-space:nowrap}.msg{border-left:3px solid #9aa7c7;padding-left:8px;margin:6px 0}.msg .role{font-weight:600;font-size:12px;color:#485470}
"""

_JS = r"""
const DATA = window.HONING_DATA || null;
const state = {selected: null, overview: null, detailFor: null, stamp: null};
function el(tag, attrs, ...kids) {
  const n = tag === 'svg' || SVG_TAGS.has(tag) ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) { if (k === 'on') for (const [e, f] of Object.entries(v)) n.addEventListener(e, f); else if (v !== null && v !== undefined) n.setAttribute(k, v); }
  for (const k of kids.flat(Infinity)) if (k !== null && k !== undefined) n.append(k instanceof Node ? k : String(k));
  return n;
}
const SVG_TAGS = new Set(['g', 'line', 'circle', 'polyline', 'path', 'text', 'rect', 'title']);
const fmt = v => v === null || v === undefined ? '–' : (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : String(v));
async function getOverview() { return DATA ? DATA.overview : (await fetch('api/overview', {cache: 'no-store'})).json(); }
async function getCandidate(id) { return DATA ? DATA.details[String(id)] : (await fetch('api/candidate/' + id, {cache: 'no-store'})).json(); }
function put(id, ...kids) { const n = document.getElementById(id); n.replaceChildren(...kids.flat(Infinity).filter(k => k !== null && k !== undefined)); return n; }

function renderValue(v) {
  if (v === null || v === undefined) return el('span', {class: 'muted'}, 'null');
  if (typeof v === 'object' && !Array.isArray(v) && typeof v.$image === 'string' && /^data:image\//.test(v.$image)) {
    const img = el('img', {class: 'side', src: v.$image, alt: 'image'}), rest = Object.keys(v).filter(k => k !== '$image');
    return rest.length ? el('div', {}, img, renderValue(Object.fromEntries(rest.map(k => [k, v[k]])))) : img;
  }
  if (typeof v === 'string') {
    if (/^data:image\//.test(v)) return el('img', {class: 'side', src: v, alt: 'image'});
    return v.length > 80 || v.includes('\n') ? el('pre', {}, v) : el('span', {}, v);
  }
  if (Array.isArray(v)) return v.length === 0 ? el('span', {class: 'muted'}, '[]') : el('ol', {start: 0}, v.map(x => el('li', {}, renderValue(x))));
  if (typeof v === 'object') {
    const keys = Object.keys(v);
    if (!keys.length) return el('span', {class: 'muted'}, '{}');
    return el('dl', {}, keys.map(k => [el('dt', {}, k), el('dd', {}, renderValue(v[k]))]));
  }
  return el('span', {}, fmt(v));
}
function componentsView(c) {
  const names = Object.keys(c);
  return names.map(n => [names.length > 1 || n !== 'candidate' ? el('div', {class: 'muted'}, n) : null, el('pre', {class: 'candidate-text'}, c[n])]);
}

function renderRun(o) {
  const r = o.run;
  put('title', 'honing run', r.live ? el('span', {class: 'badge live'}, 'live') : el('span', {class: 'badge'}, 'finished'));
  put('subtitle', (r.objective ? 'Objective: ' + r.objective + ' — ' : '') + r.run_dir);
  const stat = (label, value) => el('div', {class: 'stat'}, el('b', {}, value), label);
  put('stats', stat('metric calls', fmt(r.metric_calls) + (r.max_metric_calls ? ' / ' + r.max_metric_calls : '')),
    stat('best score', fmt(o.best && o.best.score)), stat('candidates in pool', r.pool_size + ' of ' + r.candidates_total),
    stat('proposals accepted', r.accepted + ' / ' + r.proposals), stat('sessions', r.sessions.length),
    stat('LM tokens', fmt(r.tokens)), stat('LM cost', '$' + (r.cost_usd || 0).toFixed(4)), stat('pending evaluations', r.pending));
  if (o.best) put('best', el('div', {}, 'Candidate #' + o.best.id + ', mean validation score ' + fmt(o.best.score)), componentsView(o.best.components).flat());
  else put('best', el('span', {class: 'muted'}, 'no candidate yet'));
}

function renderChart(o) {
  const W = 560, H = 260, L = 48, R = 12, T = 12, B = 32, pts = o.trajectory.points, best = o.trajectory.best;
  const maxX = Math.max(1, o.run.metric_calls, o.run.max_metric_calls || 0, ...pts.map(p => p.calls));
  const ys = pts.map(p => p.score).filter(v => v !== null);
  let lo = ys.length ? Math.min(...ys) : 0, hi = ys.length ? Math.max(...ys) : 1;
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
  const x = v => L + (W - L - R) * v / maxX, y = v => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
  const svg = el('svg', {viewBox: `0 0 ${W} ${H}`, width: '100%', id: 'score-chart'});
  svg.append(el('line', {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#889'}), el('line', {x1: L, y1: T, x2: L, y2: H - B, stroke: '#889'}));
  for (let i = 0; i <= 4; i++) {
    const vy = lo + (hi - lo) * i / 4, vx = Math.round(maxX * i / 4);
    svg.append(el('text', {x: L - 4, y: y(vy) + 4, 'text-anchor': 'end'}, vy.toFixed(2)), el('line', {x1: L, x2: W - R, y1: y(vy), y2: y(vy), stroke: '#eef'}));
    svg.append(el('text', {x: x(vx), y: H - B + 14, 'text-anchor': 'middle'}, vx));
  }
  svg.append(el('text', {x: (L + W) / 2, y: H - 4, 'text-anchor': 'middle'}, 'metric calls'));
  if (best.length) {
    const line = []; best.forEach((p, i) => { if (i) line.push(`${x(p.calls)},${y(best[i - 1].score)}`); line.push(`${x(p.calls)},${y(p.score)}`); });
    line.push(`${x(Math.max(o.run.metric_calls, best[best.length - 1].calls))},${y(best[best.length - 1].score)}`);
    svg.append(el('polyline', {points: line.join(' '), fill: 'none', stroke: '#2e9d5b', 'stroke-width': 2}));
  }
  for (const p of pts) if (p.score !== null) svg.append(el('circle', {class: 'node', cx: x(p.calls), cy: y(p.score), r: 4, fill: '#3b5bdb', on: {click: () => select(p.id)}}, el('title', {}, `#${p.id}: ${fmt(p.score)} at ${p.calls} calls`)));
  put('chart', svg);
}

function renderFrontier(o) {
  const f = o.frontier, byId = Object.fromEntries(o.candidates.map(c => [c.id, c]));
  const rows = f.members.map(id => el('tr', {}, el('td', {}, el('a', {href: '#', on: {click: e => { e.preventDefault(); select(id); }}}, '#' + id)),
    el('td', {}, fmt(byId[id] && byId[id].score)), el('td', {}, Object.entries(f.leaders).filter(([k, ids]) => ids.includes(id)).length)));
  put('frontier', f.error ? el('div', {class: 'err'}, f.error) : null,
    el('div', {class: 'muted'}, `${f.members.length} candidate(s) on the Pareto front (${o.run.frontier_type}); leading on:`),
    el('table', {id: 'frontier-table'}, el('tr', {}, el('th', {}, 'candidate'), el('th', {}, 'mean val score'), el('th', {}, 'keys led')), rows));
}

function renderLineage(o) {
  const depth = {}, rows = {};
  for (const c of o.candidates) { depth[c.id] = c.parents.length ? 1 + Math.max(...c.parents.map(p => depth[p] ?? 0)) : 0; (rows[depth[c.id]] = rows[depth[c.id]] || []).push(c); }
  const pos = {}, dx = 34, dy = 46, nRows = Object.keys(rows).length, width = Math.max(...Object.values(rows).map(r => r.length), 1) * dx + 30;
  for (const [d, cs] of Object.entries(rows)) cs.forEach((c, i) => pos[c.id] = [20 + i * dx, 20 + d * dy]);
  const svg = el('svg', {width: Math.max(width, 300), height: nRows * dy + 10, id: 'lineage-svg'});
  for (const c of o.candidates) for (const p of c.parents) if (pos[p]) svg.append(el('line', {x1: pos[p][0], y1: pos[p][1], x2: pos[c.id][0], y2: pos[c.id][1], stroke: c.in_pool ? '#8a9bc7' : '#d5d9e3'}));
  for (const c of o.candidates) {
    const best = o.best && o.best.id === c.id, fill = best ? '#2e9d5b' : c.in_pool ? '#3b5bdb' : '#c4c9d6';
    svg.append(el('g', {class: 'node', on: {click: () => select(c.id)}}, el('circle', {cx: pos[c.id][0], cy: pos[c.id][1], r: 11, fill, stroke: c.on_front ? '#f0a000' : (state.selected === c.id ? '#000' : 'none'), 'stroke-width': 3}),
      el('text', {x: pos[c.id][0], y: pos[c.id][1] + 4, 'text-anchor': 'middle', style: 'fill:#fff;font-size:10px'}, c.id),
      el('title', {}, `#${c.id} ${c.origin}${c.in_pool ? '' : ' (rejected)'} score ${fmt(c.score)}`)));
  }
  put('lineage', el('div', {class: 'muted'}, 'green: best · blue: accepted · grey: rejected · orange ring: on the Pareto front. Click a node.'), el('div', {style: 'overflow:auto'}, svg));
}

function renderPicker(o) {
  const sel = el('select', {id: 'candidate-select', on: {change: e => select(Number(e.target.value))}},
    o.candidates.map(c => el('option', {value: c.id}, `#${c.id} ${c.origin}${c.in_pool ? '' : ' (rejected)'} — ${fmt(c.score)}`)));
  if (state.selected !== null) sel.value = String(state.selected);
  put('picker', 'Candidate: ', sel);
}

async function renderDetail() {
  const id = state.selected; if (id === null) return;
  const d = await getCandidate(id);
  if (!d) { put('detail', el('span', {class: 'muted'}, `#${id} is not in this report, which embeds the details of the best candidates only; \`honing dashboard\` shows every candidate.`)); return; }
  const parts = [el('h3', {}, `Candidate #${d.id} (${d.origin}${d.in_pool ? '' : ', rejected'}) — mean validation score ${fmt(d.score)}`)];
  parts.push(el('h4', {}, 'Text'), componentsView(d.components).flat());
  if (d.parent_id !== null) {
    parts.push(el('h4', {}, 'Diff against parent #' + d.parent_id));
    for (const [name, lines] of Object.entries(d.diff)) if (lines) parts.push(el('pre', {class: 'diff'}, lines.map(([op, t]) => el('div', {class: op === '+' ? 'add' : op === '-' ? 'del' : ''}, op + ' ' + t))));
  }
  parts.push(el('h4', {}, `Evaluations (${d.evaluations_total > d.evaluations.length ? 'the first ' + d.evaluations.length + ' of ' + d.evaluations_total : d.evaluations.length})`));
  parts.push(el('table', {id: 'evaluations'}, el('tr', {}, ['example', 'split', 'score', 'side info / output'].map(h => el('th', {}, h))),
    d.evaluations.map(e => el('tr', {}, el('td', {}, e.key.slice(0, 12)), el('td', {}, e.split), el('td', {}, fmt(e.score)),
      el('td', {}, e.error ? el('div', {class: 'err'}, e.error) : null, renderValue(e.side_info),
        Object.keys(e.objective_scores || {}).length ? [el('div', {class: 'muted'}, 'objective scores'), renderValue(e.objective_scores)] : null,
        e.output !== null ? [el('div', {class: 'muted'}, 'output'), renderValue(e.output)] : null)))));
  const p = d.proposal;
  if (p) {
    parts.push(el('h4', {}, `Reflection that produced it (proposal #${p.id}, ${p.kind}, ${p.accepted ? 'accepted' : 'rejected'}: ${p.reason})`));
    parts.push(el('div', {class: 'muted'}, `parent score ${fmt(p.parent_score)} → child score ${fmt(p.child_score)}; tokens ${fmt(p.usage.prompt_tokens)}+${fmt(p.usage.completion_tokens)}; model ${fmt(p.usage.model)}`));
    const msgs = Array.isArray(p.prompt) ? p.prompt : (p.prompt === null ? [] : [{role: 'prompt', content: p.prompt}]);
    parts.push(el('div', {id: 'prompt'}, msgs.map(m => el('div', {class: 'msg'}, el('div', {class: 'role'}, m && m.role ? m.role : 'message'), renderValue(m && m.content !== undefined ? m.content : m)))));
    parts.push(el('div', {class: 'msg'}, el('div', {class: 'role'}, 'reply'), renderValue(p.reply)));
  }
  put('detail', parts.flat());
  state.detailFor = id;
}

function select(id) { state.selected = id; if (state.overview) { renderLineage(state.overview); renderPicker(state.overview); } renderDetail(); }

async function tick() {
  try {
    const o = await getOverview();
    const stamp = JSON.stringify([o.run.metric_calls, o.candidates.length, o.run.proposals, o.run.live, o.run.pending]);
    if (stamp !== state.stamp) {
      state.stamp = stamp; state.overview = o;
      if (state.selected === null && o.best) state.selected = o.best.id;
      renderRun(o); renderChart(o); renderFrontier(o); renderLineage(o); renderPicker(o); await renderDetail();
    }
    put('error');
  } catch (err) { put('error', 'update failed: ' + err); }
  if (!DATA) setTimeout(tick, POLL_MS);
}
tick();
"""

_BODY = """
<header><h1 id="title">honing run</h1><div class="sub" id="subtitle"></div><div class="err" id="error"></div></header>
<main>
<section class="wide"><div class="stats" id="stats"></div></section>
<section><h2>Best candidate</h2><div id="best"></div></section>
<section><h2>Score against metric calls</h2><div id="chart"></div></section>
<section><h2>Pareto front</h2><div id="frontier"></div></section>
<section><h2>Lineage</h2><div id="lineage"></div></section>
<section class="wide"><h2>Candidate</h2><div id="picker"></div><div id="detail"></div></section>
</main>
"""


# Defence in depth: even if markup got in, the page can load nothing from the network and run no script file.
_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'")
_SCRIPT_UNSAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                                "\u2029": "\\u2029"})


def script_json(data: Any) -> str:
    """JSON that is inert inside ``<script>``: no ``<`` at all, so no ``</script>``, ``<!--`` or ``<script``.

    In JSON these characters only occur inside strings, where ``\\u003c`` means
    the same character to the script, but the HTML parser never sees one.
    """
    return json.dumps(data, separators=(",", ":"), allow_nan=False).translate(_SCRIPT_UNSAFE)


def render_page(*, title: str, data: dict[str, Any] | None = None, poll_ms: int = 2000) -> str:
    """The page; with ``data`` it is a static report, without it a dashboard polling ``api/``."""
    embedded = ""
    if data is not None:
        embedded = f"<script>window.HONING_DATA = {script_json(data)};</script>"
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">"
        f"<title>{html.escape(title.encode('utf-8', 'replace').decode())}</title><style>{_CSS}</style></head><body>{_BODY}"
        f"{embedded}<script>const POLL_MS = {int(poll_ms)};{_JS}</script></body></html>"
    )
