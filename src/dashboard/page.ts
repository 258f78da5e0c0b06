import { html, raw } from "hono/html";
import type { Job } from "../jobs/store.ts";
import type { DashboardStats } from "./stats.ts";

const seconds = (value: number | null) => (value === null ? "–" : `${value.toFixed(2)} s`);

const jobRows = (jobs: Job[]) =>
  jobs.length === 0
    ? html`<tr><td colspan="4" class="none">none</td></tr>`
    : jobs.map(
        (job) =>
          html`<tr><td><a href="/v1/jobs/${job.job_id}">${job.job_id}</a></td><td>${job.status}</td><td>${job.received_at}</td><td>${job.error ?? ""}</td></tr>`,
      );

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2433; background: #f6f7f9; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 0 0 8px; }
.updated { color: #667; margin-bottom: 16px; } .stale { color: #b3261e; }
.cards { display: grid; grid-template-columns: repeat(4, minmax(180px, 1fr)); gap: 12px; margin-bottom: 16px; }
.card, section { background: #fff; border: 1px solid #dde1e7; border-radius: 8px; padding: 12px 16px; }
.value { font-size: 28px; font-weight: 600; } .label { color: #667; }
section { margin-bottom: 16px; } table { border-collapse: collapse; width: 100%; }
td, th { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eef0f3; } .none { color: #889; }
#chart-box { height: 320px; }`;

/** The dashboard, rendered with the current numbers; dashboard.js then refreshes them from /dashboard/stats. */
export function dashboardPage(stats: DashboardStats) {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rides-ingest dashboard</title>
<style>${raw(STYLE)}</style>
</head>
<body>
<h1>rides-ingest</h1>
<div class="updated">updated <span id="updated-at">${stats.at}</span> · refreshes every 5 s · <a href="/docs">API docs</a> · <a href="/metrics">metrics</a></div>
<div class="cards">
  <div class="card"><div class="label">intake, rides in the last minute</div>
    <div class="value" id="intake-last-minute">${stats.intake.lastMinute}</div>
    <div class="label"><span id="intake-last-hour">${stats.intake.lastHour}</span> in the last hour</div></div>
  <div class="card"><div class="label">staging backlog, rides</div>
    <div class="value" id="backlog-rides">${stats.backlog.rides}</div>
    <div class="label"><span id="backlog-jobs">${stats.backlog.jobs}</span> jobs, oldest <span id="backlog-oldest">${seconds(stats.backlog.oldestAgeSeconds)}</span></div></div>
  <div class="card"><div class="label">freshness, ack → stored (p50)</div>
    <div class="value" id="freshness-p50">${seconds(stats.freshness.p50)}</div>
    <div class="label">p95 <span id="freshness-p95">${seconds(stats.freshness.p95)}</span> over <span id="freshness-jobs">${stats.freshness.jobs}</span> jobs in ${stats.freshness.windowMinutes} min</div></div>
  <div class="card"><div class="label">jobs done / failed / lost</div>
    <div class="value"><span id="jobs-done">${stats.jobs.done}</span> / <span id="jobs-failed">${stats.jobs.failed}</span> / <span id="jobs-lost">${stats.jobs.lost}</span></div>
    <div class="label"><span id="jobs-queued">${stats.jobs.queued}</span> queued</div></div>
</div>
<section><h2>Rides per hour by travel type, <span id="chart-range">${stats.ridesPerHour.days} days to ${stats.ridesPerHour.until}</span></h2>
  <div id="chart-box"><canvas id="rides-per-hour" aria-label="rides per hour by travel type"></canvas></div></section>
<section><h2>Failed and lost jobs (newest 10 each)</h2>
  <table><thead><tr><th>job</th><th>status</th><th>received</th><th>error</th></tr></thead>
  <tbody id="problem-jobs">${jobRows([...stats.failed, ...stats.lost])}</tbody></table></section>
<script type="application/json" id="initial-stats">${raw(JSON.stringify(stats).replaceAll("<", "\\u003c"))}</script>
<script src="/dashboard/chart.js"></script>
<script src="/dashboard/dashboard.js"></script>
</body>
</html>`;
}
