// Runs in the browser: fills the dashboard from /dashboard/stats and refreshes it. When the
// service has API keys, the stats need a read key: the page asks for it once and keeps it in
// sessionStorage (gone when the tab closes).
const REFRESH_MS = 5000;
const TRAVEL_TYPES = { 1: "long distance", 2: "point to point", 3: "hourly rental" };
const COLOURS = { 1: "#7b5ea7", 2: "#2f7ed8", 3: "#f28f43" };
const statsUrl = `/dashboard/stats${location.search}`;
const KEY_ITEM = "rides-ingest-read-key";
const keyForm = document.getElementById("key-form");

const seconds = (value) => (value === null ? "–" : `${value.toFixed(2)} s`);
const setText = (id, text) => {
  document.getElementById(id).textContent = String(text);
};

const chart = new Chart(document.getElementById("rides-per-hour"), {
  type: "bar",
  data: { labels: [], datasets: [] },
  options: {
    animation: false,
    maintainAspectRatio: false,
    scales: { x: { stacked: true, ticks: { maxTicksLimit: 12 } }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "rides" } } },
  },
});

const rejectionsChart = new Chart(document.getElementById("rejections-per-hour"), {
  type: "bar",
  data: { labels: [], datasets: [] },
  options: { animation: false, maintainAspectRatio: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } },
});

function reasonRow(reason) {
  const row = document.createElement("tr");
  const link = document.createElement("a");
  link.href = `/v1/rejections?field=${encodeURIComponent(reason.path)}`;
  link.textContent = reason.path === "" ? "(the ride)" : reason.path;
  for (const content of [link, reason.message, String(reason.rides)]) {
    const cell = document.createElement("td");
    cell.append(content);
    row.append(cell);
  }
  return row;
}

function jobRow(job) {
  const row = document.createElement("tr");
  const link = document.createElement("a");
  link.href = `/v1/jobs/${job.job_id}`;
  link.textContent = job.job_id;
  const cells = [link, job.status, job.received_at, job.error ?? ""];
  for (const content of cells) {
    const cell = document.createElement("td");
    cell.append(content);
    row.append(cell);
  }
  return row;
}

function render(stats) {
  setText("updated-at", stats.at);
  setText("intake-last-minute", stats.intake.lastMinute);
  setText("intake-last-hour", stats.intake.lastHour);
  setText("streams-open", stats.openStreams);
  setText("backlog-rides", stats.backlog.rides);
  setText("backlog-jobs", stats.backlog.jobs);
  setText("backlog-oldest", seconds(stats.backlog.oldestAgeSeconds));
  setText("freshness-p50", seconds(stats.freshness.p50));
  setText("freshness-p95", seconds(stats.freshness.p95));
  setText("freshness-jobs", stats.freshness.jobs);
  setText("freshness-window", stats.freshness.windowMinutes);
  for (const status of ["done", "failed", "lost", "queued"]) setText(`jobs-${status}`, stats.jobs[status]);
  setText("chart-range", `${stats.ridesPerHour.days} days to ${stats.ridesPerHour.until}`);

  const problems = [...stats.failed, ...stats.lost];
  const body = document.getElementById("problem-jobs");
  if (problems.length > 0) body.replaceChildren(...problems.map(jobRow));

  chart.data.labels = stats.ridesPerHour.hours;
  chart.data.datasets = Object.entries(stats.ridesPerHour.byTravelType).map(([type, counts]) => ({
    label: TRAVEL_TYPES[type] ?? `travel type ${type}`,
    data: counts,
    backgroundColor: COLOURS[type] ?? "#888",
  }));
  chart.update();

  const { byHour, topReasons } = stats.quarantine;
  setText("rejections-last-day", byHour.reduce((sum, hour) => sum + hour.rides, 0));
  rejectionsChart.data.labels = byHour.map((hour) => hour.hour.slice(0, 13).replace("T", " ") + ":00");
  rejectionsChart.data.datasets = [{ label: "rejected rides", data: byHour.map((hour) => hour.rides), backgroundColor: "#b3261e" }];
  rejectionsChart.update();
  if (topReasons.length > 0) document.getElementById("top-reasons").replaceChildren(...topReasons.map(reasonRow));
  document.body.dataset.renderedAt = stats.at;
}

function askForKey(reason) {
  keyForm.hidden = false;
  setText("key-error", reason);
  document.getElementById("key").focus();
}

async function refresh() {
  const key = sessionStorage.getItem(KEY_ITEM);
  try {
    const response = await fetch(statsUrl, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    if (response.status === 401) return askForKey(key ? "that key was not accepted" : "");
    if (response.status === 403) return askForKey("that key lacks the read scope");
    if (!response.ok) throw new Error(`stats answered ${response.status}`);
    keyForm.hidden = true;
    render(await response.json());
    document.getElementById("updated-at").classList.remove("stale");
  } catch {
    document.getElementById("updated-at").classList.add("stale");
  }
}

keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("key");
  sessionStorage.setItem(KEY_ITEM, input.value.trim());
  input.value = "";
  void refresh();
});

void refresh();
setInterval(refresh, REFRESH_MS);
