import { html, raw } from "hono/html";

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2433; background: #f6f7f9; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 0 0 8px; }
.updated { color: #667; margin-bottom: 16px; } .stale { color: #b3261e; }
.cards { display: grid; grid-template-columns: repeat(4, minmax(180px, 1fr)); gap: 12px; margin-bottom: 16px; }
.card, section { background: #fff; border: 1px solid #dde1e7; border-radius: 8px; padding: 12px 16px; }
.value { font-size: 28px; font-weight: 600; } .label { color: #667; }
section { margin-bottom: 16px; } table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef0f3; } .none { color: #889; }
#chart-box { height: 320px; }
#key-form { background: #fff4e5; border: 1px solid #f0c36d; border-radius: 8px; padding: 12px 16px; margin-bottom: 16px; }
#key-error { color: #b3261e; margin-left: 8px; }`;

const blank = "–";

/**
 * The dashboard's page holds no data: dashboard.js fills it from /dashboard/stats, with
 * the read key it asks for once when the service has API keys (kept in sessionStorage).
 */
export function dashboardPage() {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rides-ingest dashboard</title>
<style>${raw(STYLE)}</style>
</head>
<body>
<h1>rides-ingest</h1>
<div class="updated">updated <span id="updated-at">${blank}</span> · refreshes every 5 s · <a href="/docs">API docs</a> · <a href="/metrics">metrics</a></div>
<form id="key-form" hidden>
  <label>This service needs an API key with the <code>read</code> scope: <input id="key" type="password" autocomplete="off" required></label>
  <button type="submit">Show the dashboard</button><span id="key-error"></span>
</form>
<div class="cards">
  <div class="card"><div class="label">intake, rides in the last minute</div>
    <div class="value" id="intake-last-minute">${blank}</div>
    <div class="label"><span id="intake-last-hour">${blank}</span> in the last hour, <span id="streams-open">${blank}</span> streams open here</div></div>
  <div class="card"><div class="label">staging backlog, rides</div>
    <div class="value" id="backlog-rides">${blank}</div>
    <div class="label"><span id="backlog-jobs">${blank}</span> jobs, oldest <span id="backlog-oldest">${blank}</span></div></div>
  <div class="card"><div class="label">freshness, ack → stored (p50)</div>
    <div class="value" id="freshness-p50">${blank}</div>
    <div class="label">p95 <span id="freshness-p95">${blank}</span> over <span id="freshness-jobs">${blank}</span> jobs in <span id="freshness-window">${blank}</span> min</div></div>
  <div class="card"><div class="label">jobs done / failed / lost</div>
    <div class="value"><span id="jobs-done">${blank}</span> / <span id="jobs-failed">${blank}</span> / <span id="jobs-lost">${blank}</span></div>
    <div class="label"><span id="jobs-queued">${blank}</span> queued</div></div>
</div>
<section><h2>Rides per hour by travel type, <span id="chart-range">${blank} days to ${blank}</span></h2>
  <div id="chart-box"><canvas id="rides-per-hour" aria-label="rides per hour by travel type"></canvas></div></section>
<section><h2>Failed and lost jobs (newest 10 each)</h2>
  <table><thead><tr><th>job</th><th>status</th><th>received</th><th>error</th></tr></thead>
  <tbody id="problem-jobs"><tr><td colspan="4" class="none">none</td></tr></tbody></table></section>
<section><h2>Rejected rides kept in the quarantine, per hour (UTC): <span id="rejections-last-day">${blank}</span> in the last 24 hours · <a href="/v1/rejections">list them</a></h2>
  <div id="rejections-box" style="height: 160px"><canvas id="rejections-per-hour" aria-label="rejected rides per hour"></canvas></div>
  <h2>Top reasons in the last hour</h2>
  <table><thead><tr><th>field</th><th>reason</th><th>rides</th></tr></thead>
  <tbody id="top-reasons"><tr><td colspan="3" class="none">none</td></tr></tbody></table></section>
<script src="/dashboard/chart.js"></script>
<script src="/dashboard/dashboard.js"></script>
</body>
</html>`;
}
