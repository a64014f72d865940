/**
 * The inspector page's HTML and CSS, served by inspector-server.ts at `/` and `/assets/style.css`.
 * The page loads its ES modules from `/assets/<name>.js` (tsc output of src/inspect/web/<name>.ts,
 * built by tsconfig.web.json), and nothing else: no CDN, no web font, no inline script or style
 * (the server's CSP is default-src 'self'). Every element a test or the app looks up has a
 * data-testid; docs/inspector.md lists them.
 */

export const INSPECTOR_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>Collie inspector</title>
<link rel="stylesheet" href="/assets/style.css">
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='6' fill='%23ffcf33' stroke='%231b1f24' stroke-width='2'/%3E%3C/svg%3E">
<script type="module" src="/assets/inspector-app.js"></script>
</head>
<body>
<div class="app" data-testid="app" data-state="loading">
  <header class="topbar">
    <h1>Collie inspector</h1>
    <span class="source" data-testid="source-title">loading…</span>
    <span class="header-facts" data-testid="source-header"></span>
    <span class="live-status" data-testid="live-status" data-status="loading">loading</span>
    <button type="button" class="help-toggle" data-testid="help-toggle" aria-expanded="false" title="Keyboard shortcuts (?)">?</button>
  </header>

  <div class="error-banner" role="alert" data-testid="error-banner" hidden>
    <span data-testid="error-text"></span>
    <button type="button" data-testid="error-close" aria-label="Dismiss">×</button>
  </div>

  <aside class="help" data-testid="help" hidden>
    <h2>Keyboard</h2>
    <dl>
      <dt>← / →</dt><dd>step one event back / forward (with Shift: 10)</dd>
      <dt>Home / End</dt><dd>first event / newest event (live: follow the head again)</dd>
      <dt>Space</dt><dd>play / pause</dd>
      <dt>v / Shift+V</dt><dd>next / previous checker violation</dd>
      <dt>g</dt><dd>jump to an event number</dd>
      <dt>/</dt><dd>search the events</dd>
      <dt>Esc</dt><dd>clear the selection</dd>
    </dl>
  </aside>

  <section class="timeline" aria-label="Timeline" data-testid="timeline">
    <div class="timeline-controls">
      <button type="button" data-testid="timeline-first" title="First event (Home)">|◀ First</button>
      <button type="button" data-testid="timeline-back" title="Step back (←)">◀ Back</button>
      <button type="button" data-testid="timeline-play" title="Play (Space)">Play</button>
      <button type="button" data-testid="timeline-pause" title="Pause (Space)">Pause</button>
      <button type="button" data-testid="timeline-forward" title="Step forward (→)">Step ▶</button>
      <button type="button" data-testid="timeline-head" title="Newest event; live: follow it (End)">Newest ▶|</button>
      <label class="speed">speed
        <select data-testid="timeline-speed">
          <option value="600">slow</option>
          <option value="200" selected>normal</option>
          <option value="40">fast</option>
        </select>
      </label>
      <span class="position">event <output data-testid="timeline-seq">0</output> of
        <output data-testid="timeline-head-seq">0</output>
        · <output data-testid="timeline-time">t = 0 ms</output></span>
      <span class="follow" data-testid="timeline-follow"></span>
      <form class="jump" data-testid="timeline-jump-form">
        <label>go to <input type="number" min="0" step="1" data-testid="timeline-jump-input" aria-label="Event number"></label>
        <button type="submit" data-testid="timeline-jump">Go</button>
      </form>
      <span class="violations">
        <button type="button" data-testid="violation-prev" title="Previous violation (Shift+V)">◀ ⚠</button>
        <button type="button" data-testid="violation-jump" title="Next violation (v)">⚠ Next violation</button>
      </span>
    </div>
    <div class="slider-row">
      <input type="range" min="0" max="0" value="0" step="1" data-testid="timeline-slider" aria-label="Event">
      <div class="violation-marks" data-testid="violation-marks"></div>
    </div>
    <p class="violation-current" data-testid="violation-current" hidden></p>
  </section>

  <main class="panes">
    <nav class="pane instances" aria-label="Machine instances" data-testid="instances">
      <div class="pane-head">
        <h2>Instances</h2>
        <span class="muted" data-testid="instances-count"></span>
        <label class="muted"><input type="checkbox" data-testid="instances-hide-ended"> hide ended</label>
      </div>
      <ul class="instance-list" data-testid="instances-list"></ul>
    </nav>

    <section class="pane charts" aria-label="Statecharts" data-testid="charts">
      <div class="pane-head"><h2>Statecharts</h2><span class="muted">the state lit is the one at the chosen event</span></div>
      <div class="chart-grid" data-testid="chart-grid"></div>
    </section>

    <aside class="pane side">
      <section class="detail" aria-label="Selected instance" data-testid="instance-detail">
        <h2>Selected instance</h2>
        <p class="muted">Select an instance on the left or a chart's title.</p>
      </section>
      <section class="coherence" aria-label="Coherence" data-testid="coherence">
        <h2>Coherence per VDI</h2>
        <div data-testid="coherence-body"></div>
      </section>
    </aside>
  </main>

  <section class="pane events" aria-label="Events" data-testid="events">
    <div class="pane-head">
      <h2>Events</h2>
      <form class="filters" data-testid="events-filters">
        <input type="search" placeholder="actor" data-testid="filter-actor" aria-label="Actor filter">
        <input type="search" placeholder="type" data-testid="filter-type" aria-label="Type filter">
        <input type="search" placeholder="VDI" data-testid="filter-vdi" aria-label="VDI filter">
        <input type="search" placeholder="text (/)" data-testid="filter-text" aria-label="Text filter">
        <button type="submit">Filter</button>
        <button type="button" data-testid="filter-clear">Clear</button>
      </form>
      <span class="muted" data-testid="events-count"></span>
    </div>
    <div class="events-scroll" data-testid="events-scroll">
      <table class="event-table">
        <thead><tr><th>seq</th><th>t</th><th>actor</th><th>type</th><th>data</th></tr></thead>
        <tbody data-testid="events-body"></tbody>
      </table>
      <button type="button" class="more" data-testid="events-more" hidden>Load more events</button>
    </div>
  </section>
</div>
</body>
</html>
`;

export const INSPECTOR_CSS = `:root {
  --ink: #1b1f24;
  --muted: #5b6570;
  --line: #d5dae0;
  --paper: #ffffff;
  --panel: #f5f7f9;
  --accent: #1d5fb8;
  --accent-soft: #e3edfa;
  --lit: #ffcf33;
  --lit-line: #8a5a00;
  --occupied: #fff1bf;
  --warn: #b3261e;
  --warn-soft: #fde8e6;
  --ok: #1e7b34;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-size: 14px;
  color: var(--ink);
  background: var(--paper);
}
* { box-sizing: border-box; }
body { margin: 0; }
h1 { font-size: 1.15rem; margin: 0; }
h2 { font-size: 0.95rem; margin: 0; }
h3, h4 { margin: 0; font-size: 0.85rem; }
button, input, select { font: inherit; color: inherit; }
button {
  border: 1px solid var(--line); background: var(--paper); border-radius: 4px; padding: 2px 8px; cursor: pointer;
}
button:hover:not(:disabled) { border-color: var(--accent); }
button:disabled { opacity: 0.45; cursor: default; }
button:focus-visible, input:focus-visible, select:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
input, select { border: 1px solid var(--line); border-radius: 4px; padding: 2px 6px; background: var(--paper); }
.muted { color: var(--muted); font-size: 0.85rem; }
code, .num, .actor, .type, .data, output { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; }

.app { display: flex; flex-direction: column; min-height: 100vh; }
.topbar { display: flex; align-items: center; gap: 12px; padding: 8px 14px; border-bottom: 1px solid var(--line); }
.topbar .source { font-weight: 600; }
.header-facts { color: var(--muted); font-size: 0.85rem; display: flex; gap: 8px; flex-wrap: wrap; }
.header-facts span { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 0 8px; }
.live-status { margin-left: auto; font-size: 0.85rem; padding: 1px 10px; border-radius: 10px; border: 1px solid var(--line); }
.live-status[data-status="live"] { color: var(--ok); border-color: var(--ok); }
.live-status[data-status="retrying"], .live-status[data-status="error"] { color: var(--warn); border-color: var(--warn); }
.error-banner { display: flex; gap: 12px; align-items: center; justify-content: space-between; padding: 6px 14px; background: var(--warn-soft); color: var(--warn); border-bottom: 1px solid var(--warn); }
.error-banner[hidden], .help[hidden], .violation-current[hidden], .more[hidden] { display: none; }
.help { padding: 8px 14px; background: var(--panel); border-bottom: 1px solid var(--line); }
.help dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0 0; }
.help dt { font-family: ui-monospace, monospace; }
.help dd { margin: 0; }

.timeline { padding: 8px 14px; border-bottom: 1px solid var(--line); background: var(--panel); }
.timeline-controls { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
.timeline .position { margin-left: 8px; }
.timeline .follow { color: var(--muted); font-size: 0.85rem; }
.timeline .follow.on { color: var(--ok); }
.timeline .jump { display: inline-flex; gap: 4px; align-items: center; margin-left: auto; }
.timeline .jump input { width: 7em; }
.timeline .violations button { color: var(--warn); border-color: #e3b5b1; }
.slider-row { position: relative; margin-top: 6px; padding-bottom: 10px; }
.slider-row input[type="range"] { width: 100%; margin: 0; accent-color: var(--accent); }
.violation-marks { position: absolute; left: 0; right: 0; bottom: 0; height: 10px; }
.violation-mark { position: absolute; top: 0; width: 10px; height: 10px; margin-left: -5px; padding: 0; border: none; border-radius: 50%; background: var(--warn); }
.violation-current { margin: 6px 0 0; padding: 4px 8px; color: var(--warn); background: var(--warn-soft); border: 1px solid #e3b5b1; border-radius: 4px; }

.panes { flex: 1; display: grid; grid-template-columns: minmax(220px, 280px) minmax(0, 1fr) minmax(260px, 360px); min-height: 420px; }
.pane { padding: 10px 14px; min-width: 0; }
.pane-head { display: flex; align-items: baseline; gap: 10px; flex-wrap: wrap; margin-bottom: 8px; }
.instances { border-right: 1px solid var(--line); overflow: auto; max-height: 75vh; }
.side { border-left: 1px solid var(--line); overflow: auto; max-height: 75vh; display: flex; flex-direction: column; gap: 16px; }
.charts { overflow: auto; max-height: 75vh; }

.instance-list, .instance-list ul { list-style: none; margin: 0; padding: 0; }
.node-group { margin-bottom: 10px; }
.group-title { padding: 2px 0; border-bottom: 1px solid var(--line); }
.group-subtitle { color: var(--muted); font-weight: 500; margin: 4px 0 2px 6px; }
.instance-row { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 0 6px; width: 100%; text-align: left; margin: 1px 0; border-color: transparent; background: transparent; }
.instance-row:hover { background: var(--accent-soft); }
.instance-row.selected { border-color: var(--accent); background: var(--accent-soft); }
.instance-row.ended { opacity: 0.55; }
.instance-label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.instance-machine { grid-column: 1; color: var(--muted); font-size: 0.8rem; }
.instance-row .state-badge { grid-column: 2; grid-row: 1 / span 2; align-self: center; }
.state-badge { display: inline-block; font-family: ui-monospace, monospace; font-size: 0.8rem; padding: 0 6px; border-radius: 3px; background: var(--lit); color: var(--ink); border: 1px solid var(--lit-line); }
.state-badge.none { background: var(--panel); color: var(--muted); border-color: var(--line); font-style: italic; }

.chart-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; }
.chart { border: 1px solid var(--line); border-radius: 6px; padding: 8px; background: var(--paper); }
.chart.selected { border-color: var(--accent); box-shadow: 0 0 0 2px var(--accent-soft); }
.chart.idle { opacity: 0.6; }
.chart-title { display: flex; flex-direction: column; align-items: flex-start; border: none; padding: 0; background: transparent; text-align: left; }
.chart-name { font-weight: 600; }
.chart-side { color: var(--muted); font-size: 0.8rem; }
.chart-caption { margin: 4px 0 6px; font-size: 0.85rem; }
.chart-body svg { display: block; width: 100%; height: auto; max-height: 460px; }
.chart-error { color: var(--warn); }
.chart svg .state.occupied > polygon, .chart svg .state.occupied > rect, .chart svg .state.occupied > ellipse, .chart svg .state.occupied > path { fill: var(--occupied); }
.chart svg .state.lit-parent > polygon, .chart svg .state.lit-parent > rect, .chart svg .state.lit-parent > path { stroke: var(--lit-line); stroke-width: 2px; }
.chart svg .state.lit > polygon, .chart svg .state.lit > rect, .chart svg .state.lit > ellipse, .chart svg .state.lit > path { fill: var(--lit); stroke: var(--lit-line); stroke-width: 2.5px; }
.chart svg .state.lit > text { font-weight: 700; }

.detail dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 2px 10px; margin: 8px 0; }
.detail dt { color: var(--muted); }
.detail dd { margin: 0; overflow-wrap: anywhere; }
.detail .actions { display: flex; gap: 6px; flex-wrap: wrap; }
.coherence-table { border-collapse: collapse; margin: 8px 0 12px; font-size: 0.85rem; }
.coherence-table caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
.coherence-table th, .coherence-table td { border: 1px solid var(--line); padding: 2px 6px; text-align: left; }
.coherence-table thead th { background: var(--panel); font-weight: 500; }
.coherence-table .matrix-col { writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap; font-size: 0.75rem; }
.coherence-cell { font-family: ui-monospace, monospace; }
.coherence-cell.none { color: var(--muted); font-style: italic; }
.matrix-dot { text-align: center; color: var(--lit-line); }
.matrix-dot.on { background: var(--occupied); }
.empty { color: var(--muted); font-style: italic; }

.events { border-top: 1px solid var(--line); }
.filters { display: flex; gap: 6px; flex-wrap: wrap; }
.filters input { width: 11em; }
.events-scroll { max-height: 38vh; overflow: auto; border: 1px solid var(--line); border-radius: 4px; position: relative; }
.event-table { border-collapse: collapse; width: 100%; font-size: 0.82rem; }
.event-table thead th { position: sticky; top: 0; background: var(--panel); text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); z-index: 1; }
.event-table td { padding: 2px 6px; border-bottom: 1px solid #eef1f4; vertical-align: top; }
.event-table tbody tr { cursor: pointer; }
.event-table tbody tr:hover { background: var(--accent-soft); }
.event-table tr.current { background: var(--lit); }
.event-table tr.future { color: #8b949e; }
.event-table tr.violation td:first-child::before { content: "⚠ "; color: var(--warn); }
.event-table tr.violation { box-shadow: inset 3px 0 0 var(--warn); }
.event-table .num { text-align: right; white-space: nowrap; }
.event-table .data { color: var(--muted); word-break: break-all; }
.event-table tr.current .data { color: var(--ink); }
.more { margin: 6px; }

@media (max-width: 1000px) {
  .panes { grid-template-columns: 1fr; }
  .instances, .side, .charts { max-height: none; border: none; }
}
`;
