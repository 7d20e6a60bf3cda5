// Spaces Connector UI behaviour: no inline script anywhere (the CSP forbids
// it), so small enhancements are wired here by data attributes.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// Live figures: any element with data-live="stats" is refreshed from the
// JSON API every two seconds, without reloading the page.
const STATUS_CLASSES = ["status-ok", "status-pending", "status-bad", "status-off"];

function formatTime(secs) {
  return secs ? new Date(secs * 1000).toISOString().replace(".000Z", "Z") : "-";
}

function fieldText(link, field) {
  const v = link[field];
  if (field === "rate_per_sec") return v.toFixed(1);
  if (field === "connected_at") return formatTime(v);
  if (field === "status") return link.status_label;
  if (field === "last_error") return v || "";
  return String(v);
}

function updateLink(root, link) {
  root.querySelectorAll("[data-field]").forEach((el) => {
    el.textContent = fieldText(link, el.getAttribute("data-field"));
    if (el.getAttribute("data-field") === "status") {
      el.classList.remove(...STATUS_CLASSES);
      el.classList.add(link.status_css);
    }
  });
  const line = root.querySelector("[data-chart-line]");
  if (line) {
    const h = link.history;
    const max = Math.max(1, ...h);
    const start = 300 - h.length;
    line.setAttribute("points", h.map((v, i) => `${start + i},${(80 - (v / max) * 76).toFixed(1)}`).join(" "));
  }
}

async function refresh() {
  const regions = document.querySelectorAll('[data-live="stats"]');
  if (regions.length === 0) return;
  let data;
  try {
    const resp = await fetch("/api/v1/stats", { credentials: "same-origin" });
    if (resp.status === 401) { window.location.assign("/login?notice=expired"); return; }
    if (!resp.ok) return;
    data = await resp.json();
  } catch (_) {
    return;
  }
  regions.forEach((region) => {
    const channel = data[(region.getAttribute("data-channel") || "controller") + "_channel"];
    if (channel) updateRegion(region, channel);
  });
}

function updateRegion(region, data) {
  const byId = new Map(data.links.map((l) => [String(l.id), l]));
  region.querySelectorAll("[data-total]").forEach((el) => {
    const key = el.getAttribute("data-total");
    const v = data.totals[key];
    el.textContent = key === "incoming_rate_per_sec" ? v.toFixed(1) : String(v);
  });
  const own = region.getAttribute("data-link-id");
  if (own && byId.has(own)) updateLink(region, byId.get(own));
  region.querySelectorAll("tr[data-link-id]").forEach((row) => {
    const link = byId.get(row.getAttribute("data-link-id"));
    if (link) updateLink(row, link);
  });
}

if (document.querySelector('[data-live="stats"]')) {
  refresh();
  window.setInterval(refresh, 2000);
}

// The Logs page: new lines are appended as the service writes them, with
// the page's own filter; text only (never HTML from a log line).
const LOG_ROWS_MAX = 2000;

function logTime(ms) {
  return new Date(ms).toISOString();
}

async function moreLogs(table) {
  const params = new URLSearchParams({
    after: table.getAttribute("data-after") || "0",
    level: table.getAttribute("data-level") || "",
    component: table.getAttribute("data-component") || "",
  });
  let data;
  try {
    const resp = await fetch("/api/v1/logs?" + params.toString(), { credentials: "same-origin" });
    if (resp.status === 401) { window.location.assign("/login?notice=expired"); return; }
    if (!resp.ok) return;
    data = await resp.json();
  } catch (_) {
    return;
  }
  const body = table.querySelector("tbody");
  data.lines.forEach((l) => {
    const row = document.createElement("tr");
    row.className = "log-" + l.level.toLowerCase();
    [logTime(l.at_ms), l.level, l.component, l.message].forEach((text, i) => {
      const cell = document.createElement("td");
      if (i === 0) {
        const code = document.createElement("code");
        code.textContent = text;
        cell.appendChild(code);
      } else {
        cell.textContent = text;
      }
      if (i === 3) cell.className = "wrap";
      row.appendChild(cell);
    });
    body.appendChild(row);
    table.setAttribute("data-after", String(l.seq));
  });
  while (body.rows.length > LOG_ROWS_MAX) body.deleteRow(0);
  const empty = document.getElementById("log-empty");
  if (empty && data.lines.length > 0) empty.remove();
}

const logTable = document.querySelector('[data-live="logs"]');
if (logTable) {
  window.setInterval(() => moreLogs(logTable), 2000);
}

// After a restore the service restarts: move on once it is back.
const goTo = document.querySelector("[data-go-to]");
if (goTo) {
  const after = Number(goTo.getAttribute("data-go-after") || "10") * 1000;
  window.setTimeout(() => window.location.assign(goTo.getAttribute("data-go-to")), after);
}
