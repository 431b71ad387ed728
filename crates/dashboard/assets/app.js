// ratings-stream dashboard: fetches the windows of the chosen range from the REST API, then
// follows the live stream (Server-Sent Events) from the history's sequence number it got, so no
// window falls between the two. Charts are SVG drawn here. Missing windows are drawn as gaps,
// never as zero.
"use strict";

const RANGES = { "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400 };
const SVG = "http://www.w3.org/2000/svg";
const SERIES = {
  count: [{ key: "count", label: "ratings", color: "--accent" }],
  rating: [
    { key: "avg_rating", label: "avg", color: "--accent" },
    { key: "p50_rating", label: "p50", color: "--accent2" },
    { key: "p95_rating", label: "p95", color: "--accent3" },
  ],
};

const state = {
  kind: "tumbling",
  range: "1h",
  token: null,
  windows: new Map(), // "type|start" -> window
  instance: null,
  seq: 0,
  from: 0,
  to: 0,
  offset: 0, // head of the data minus the browser's clock (seconds), for synthetic streams
  source: null,
  status: null,
};

// ---- settings kept in the URL (and the token for this tab) ----

function readUrl() {
  const params = new URLSearchParams(location.search);
  if (params.get("type") === "sliding") state.kind = "sliding";
  if (RANGES[params.get("range")]) state.range = params.get("range");
  // the operator's link carries the token in its fragment (#token=…), which no request sends
  const hash = new URLSearchParams(location.hash.slice(1));
  const token = hash.get("token") || sessionStorage.getItem("ratings-token");
  if (token) {
    state.token = token;
    sessionStorage.setItem("ratings-token", token);
  }
}

function writeUrl() {
  const params = new URLSearchParams({ type: state.kind, range: state.range });
  history.replaceState(null, "", "?" + params.toString());
  for (const b of document.querySelectorAll("#kind button")) b.setAttribute("aria-pressed", b.dataset.kind === state.kind);
  for (const b of document.querySelectorAll("#range button")) b.setAttribute("aria-pressed", b.dataset.range === state.range);
  const query = apiQuery({ type: state.kind, range: state.range });
  document.getElementById("export-csv").href = "/api/windows.csv?" + query;
  document.getElementById("export-json").href = "/api/windows?" + query;
}

function apiQuery(values) {
  return new URLSearchParams(values).toString();
}

// every API request carries the token in a header, never in its URL
function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  return fetch(path, { ...options, headers });
}

// the live stream and the export links cannot send headers: they carry the session's cookie
async function openSession() {
  await api("/api/session", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
}

// ---- data ----

const key = (w) => w.window_type + "|" + w.window_start;
const epoch = (text) => Date.parse(text) / 1000;
const kindOf = (w) => (w.window_type.startsWith("sliding") ? "sliding" : "tumbling");

async function load() {
  const response = await api("/api/windows?" + apiQuery({ type: state.kind, range: state.range }));
  if (!response.ok) throw new Error((await response.json()).error || response.statusText);
  const body = await response.json();
  state.windows = new Map(body.windows.map((w) => [key(w), w]));
  state.instance = body.instance;
  state.seq = body.seq;
  state.from = body.from;
  state.to = body.to;
  state.offset = body.to - body.now;
  render();
}

function follow() {
  if (state.source) state.source.close();
  const source = new EventSource("/api/events?" + apiQuery({ instance: state.instance, after: state.seq }));
  state.source = source;
  source.onopen = () => setConnection("live", "live");
  source.onerror = () => setConnection("reconnecting", "reconnecting…");
  source.addEventListener("window", (event) => {
    const w = JSON.parse(event.data);
    state.seq = Number(event.lastEventId.split(":")[1]);
    if (kindOf(w) !== state.kind) return;
    const kept = state.windows.get(key(w));
    if (kept && kept.final && !w.final) return;
    state.windows.set(key(w), w);
    scheduleRender();
  });
  // the dashboard restarted: its sequence numbers started over, so fetch the range again
  source.addEventListener("resync", () => start());
}

async function start() {
  writeUrl();
  try {
    await openSession();
    await load();
    follow();
  } catch (error) {
    setConnection("error", "error: " + error.message);
    setTimeout(start, 2000);
  }
}

function setConnection(kind, text) {
  const element = document.getElementById("connection");
  element.className = "connection " + kind;
  element.textContent = text;
}

let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    render();
  });
}

// ---- rendering ----

/** The windows in range, by start; the range follows the head of the data as time passes. */
function windowsInRange() {
  const head = Math.max(Date.now() / 1000 + state.offset, ...[...state.windows.values()].map((w) => epoch(w.window_end)));
  state.to = head;
  state.from = head - RANGES[state.range];
  return [...state.windows.values()]
    .filter((w) => epoch(w.window_end) > state.from && epoch(w.window_end) <= state.to)
    .sort((a, b) => epoch(a.window_start) - epoch(b.window_start));
}

function render() {
  const windows = windowsInRange();
  const latest = windows[windows.length - 1];
  const previous = windows[windows.length - 2];
  renderTiles(windows, latest);
  renderSeries("count-chart", windows, SERIES.count, (v) => v.toFixed(0));
  renderSeries("rating-chart", windows, SERIES.rating, (v) => v.toFixed(2));
  for (const label of document.querySelectorAll(".window-label")) {
    label.textContent = latest ? "· " + timeLabel(latest.window_start) + "–" + timeLabel(latest.window_end) : "";
  }
  renderDistribution(latest);
  renderTrending(latest, previous);
  renderGenres(latest);
  renderUpdated(latest);
}

const minutes = (w) => (epoch(w.window_end) - epoch(w.window_start)) / 60;
const TILES = [
  ["tile-rate", (w) => w.count / minutes(w), (v) => v.toFixed(v < 10 ? 1 : 0)],
  ["tile-avg", (w) => w.avg_rating, (v) => v.toFixed(2)],
  ["tile-p50", (w) => w.p50_rating, (v) => v.toFixed(1)],
  ["tile-p95", (w) => w.p95_rating, (v) => v.toFixed(1)],
];

function renderTiles(windows, latest) {
  for (const [id, value, format] of TILES) {
    const tile = document.getElementById(id);
    const shown = tile.querySelector(".value");
    shown.textContent = latest ? format(value(latest)) : "–";
    shown.classList.toggle("missing", !latest);
    sparkline(tile.querySelector("svg"), windows.slice(-30).map(value));
  }
}

function sparkline(svg, values) {
  svg.replaceChildren();
  if (values.length < 2) return;
  const { width, height } = size(svg);
  const [low, high] = extent(values);
  const x = (i) => (i / (values.length - 1)) * width;
  const y = (v) => height - 2 - ((v - low) / (high - low || 1)) * (height - 4);
  const d = values.map((v, i) => (i ? "L" : "M") + x(i).toFixed(1) + "," + y(v).toFixed(1)).join("");
  svg.append(element("path", { d, class: "line", stroke: color("--accent") }));
}

/** A time series over the range: one line per series, broken where windows are missing. */
function renderSeries(id, windows, series, format) {
  const panel = document.getElementById(id);
  const svg = panel.querySelector("svg");
  const legend = panel.querySelector(".legend");
  svg.replaceChildren();
  const { width, height } = size(svg);
  const pad = { left: 44, right: 10, top: 10, bottom: 22 };
  const x = (t) => pad.left + ((t - state.from) / (state.to - state.from)) * (width - pad.left - pad.right);
  const values = windows.flatMap((w) => series.map((s) => w[s.key]));
  const [low, high] = values.length ? extent([0, ...values]) : [0, 1];
  const y = (v) => height - pad.bottom - ((v - low) / (high - low || 1)) * (height - pad.top - pad.bottom);
  axes(svg, x, y, low, high, width, height, pad, format);
  if (!windows.length) {
    svg.append(text(width / 2, height / 2, "no windows in this range", "middle"));
    return;
  }
  const step = windowStep(windows);
  for (const s of series) {
    let d = "";
    let last = null;
    for (const w of windows) {
      const t = epoch(w.window_end);
      const gap = last === null || t - last > step * 1.5;
      d += (gap ? "M" : "L") + x(t).toFixed(1) + "," + y(w[s.key]).toFixed(1);
      if (gap) d += "l0.01,0"; // a lone point still shows
      last = t;
    }
    svg.append(element("path", { d, class: "line", stroke: color(s.color), "stroke-linecap": "round" }));
  }
  hover(svg, legend, windows, series, x, format, height, pad);
}

/** The usual distance between consecutive window ends (their slide). */
function windowStep(windows) {
  const steps = [];
  for (let i = 1; i < windows.length; i++) steps.push(epoch(windows[i].window_end) - epoch(windows[i - 1].window_end));
  steps.sort((a, b) => a - b);
  return steps.length ? steps[Math.floor(steps.length / 2)] || 60 : 60;
}

function axes(svg, x, y, low, high, width, height, pad, format) {
  for (let i = 0; i <= 4; i++) {
    const v = low + ((high - low) * i) / 4;
    svg.append(element("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "grid" }));
    svg.append(text(pad.left - 4, y(v) + 4, format(v), "end"));
  }
  const span = state.to - state.from;
  const tick = [60, 300, 900, 1800, 3600, 7200, 10800, 21600].find((t) => span / t <= 8) || 21600;
  for (let t = Math.ceil(state.from / tick) * tick; t <= state.to; t += tick) {
    svg.append(text(x(t), height - 6, timeLabel(new Date(t * 1000).toISOString()), "middle"));
  }
}

function hover(svg, legend, windows, series, x, format, height, pad) {
  const cursor = element("line", { y1: pad.top, y2: height - pad.bottom, class: "cursor", visibility: "hidden" });
  svg.append(cursor);
  svg.onmousemove = (event) => {
    const box = svg.getBoundingClientRect();
    const px = event.clientX - box.left;
    let nearest = windows[0];
    for (const w of windows) if (Math.abs(x(epoch(w.window_end)) - px) < Math.abs(x(epoch(nearest.window_end)) - px)) nearest = w;
    const cx = x(epoch(nearest.window_end));
    cursor.setAttribute("x1", cx);
    cursor.setAttribute("x2", cx);
    cursor.setAttribute("visibility", "visible");
    legend.replaceChildren(document.createTextNode(timeLabel(nearest.window_start) + "–" + timeLabel(nearest.window_end)));
    for (const s of series) {
      const row = document.createElement("div");
      const swatch = document.createElement("i");
      swatch.style.background = color(s.color);
      row.append(swatch, s.label + " " + format(nearest[s.key]));
      legend.append(row);
    }
    legend.classList.add("shown");
  };
  svg.onmouseleave = () => {
    cursor.setAttribute("visibility", "hidden");
    legend.classList.remove("shown");
  };
}

function renderDistribution(latest) {
  const svg = document.querySelector("#distribution svg");
  const histogram = latest && latest.rating_histogram;
  if (!histogram) return empty(svg, latest ? "this window has no rating histogram" : "no window yet");
  const labels = histogram.map((_, i) => ((i + 1) / 2).toFixed(1));
  bars(svg, labels, histogram, (v) => String(v), true);
}

function renderGenres(latest) {
  const svg = document.querySelector("#genres svg");
  const genres = latest ? latest.metrics_by_genre.slice(0, 12) : [];
  if (!genres.length) return empty(svg, latest ? "no genres in this window" : "no window yet");
  bars(svg, genres.map((g) => g.genre), genres.map((g) => g.count), (v, i) => v + " · avg " + genres[i].avg_rating.toFixed(2), false);
}

/** Bars: vertical (a histogram) or horizontal (named categories). */
function bars(svg, labels, values, valueLabel, vertical) {
  svg.replaceChildren();
  const { width, height } = size(svg);
  const max = Math.max(1, ...values);
  if (vertical) {
    const slot = (width - 20) / values.length;
    values.forEach((v, i) => {
      const h = (v / max) * (height - 40);
      const bx = 10 + i * slot;
      svg.append(element("rect", { x: bx + 3, y: height - 20 - h, width: slot - 6, height: h, class: "bar", "data-value": v }));
      svg.append(text(bx + slot / 2, height - 6, labels[i], "middle"));
      svg.append(text(bx + slot / 2, height - 24 - h, valueLabel(v, i), "middle", "bar-label"));
    });
    return;
  }
  const slot = height / values.length;
  const left = 90;
  values.forEach((v, i) => {
    const w = (v / max) * (width - left - 130);
    const by = i * slot;
    svg.append(text(left - 6, by + slot / 2 + 4, labels[i], "end"));
    svg.append(element("rect", { x: left, y: by + 2, width: w, height: slot - 4, class: "bar", "data-value": v }));
    svg.append(text(left + w + 4, by + slot / 2 + 4, valueLabel(v, i), "start", "bar-label"));
  });
}

function renderTrending(latest, previous) {
  const body = document.querySelector("#trending tbody");
  body.replaceChildren();
  if (!latest || !latest.top_movies.length) {
    const row = body.insertRow();
    const cell = row.insertCell();
    cell.colSpan = 5;
    cell.className = "empty";
    cell.textContent = latest ? "no ratings in this window" : "no window yet";
    return;
  }
  const before = new Map((previous ? previous.top_movies : []).map((m, i) => [m.movieId, i]));
  latest.top_movies.slice(0, 10).forEach((movie, rank) => {
    const row = body.insertRow();
    row.dataset.movieId = movie.movieId;
    const cells = [String(rank + 1), movie.title ?? "movie " + movie.movieId, String(movie.count), movie.avg_rating.toFixed(2)];
    cells.forEach((value, i) => {
      const cell = row.insertCell();
      cell.textContent = value;
      if (i >= 2) cell.className = "num";
    });
    const change = row.insertCell();
    const was = before.get(movie.movieId);
    if (!previous) change.textContent = "";
    else if (was === undefined) [change.textContent, change.className] = ["new", "new"];
    else if (was > rank) [change.textContent, change.className] = ["▲" + (was - rank), "up"];
    else if (was < rank) [change.textContent, change.className] = ["▼" + (rank - was), "down"];
    else change.textContent = "=";
  });
}

function renderUpdated(latest) {
  const element = document.getElementById("updated");
  if (!latest) {
    element.textContent = "no data in this range";
    return;
  }
  const age = Math.max(0, Math.round((Date.now() - Date.parse(latest.processing_time)) / 1000));
  element.textContent = "updated " + age + " s ago";
  element.dataset.age = age;
}

async function refreshStatus() {
  const feed = document.getElementById("feed");
  try {
    const response = await api("/api/status");
    if (!response.ok) throw new Error(response.statusText);
    const status = await response.json();
    const f = status.feed;
    const problem = f.error || !f.connected;
    const processors = status.processors.map((p) =>
      p.up
        ? "processor " + p.url + ": " + (p.records_per_second === null ? "–" : p.records_per_second.toFixed(0)) + " records/s, lag " +
          (p.lag === null ? "–" : p.lag) + (p.latency_p99 === null ? "" : ", output latency p99 " + (p.latency_p99 * 1000).toFixed(0) + " ms")
        : "processor " + p.url + " unreachable: " + (p.error || "no answer yet"));
    const down = status.processors.some((p) => !p.up);
    feed.className = "feed " + (problem || down ? "problem" : "muted");
    feed.textContent = [
      f.source + (f.error ? " — " + f.error : f.connected ? "" : " — not connected") +
        (f.skipped ? " · " + f.skipped + " records skipped (last: " + f.last_skipped + ")" : ""),
      ...processors,
    ].join(" · ");
  } catch (error) {
    feed.className = "feed problem";
    feed.textContent = "the dashboard does not answer: " + error.message;
  }
}

// ---- alerts ----

async function refreshAlerts() {
  const response = await api("/api/alerts");
  if (!response.ok) return;
  const body = await response.json();
  const shown = body.alerts.filter((a) => a.state !== "inactive");
  const firing = body.alerts.filter((a) => a.state === "firing" && a.silenced_by === null);
  document.getElementById("alert-count").textContent = firing.length ? "· " + firing.length + " firing" : "· none firing";
  const list = document.getElementById("alert-list");
  list.replaceChildren();
  for (const alert of shown) {
    const item = document.createElement("li");
    item.dataset.rule = alert.rule.name;
    item.dataset.state = alert.state;
    item.dataset.silenced = alert.silenced_by !== null;
    const badge = document.createElement("span");
    const silenced = alert.silenced_by !== null;
    badge.className = "badge " + (silenced ? "silenced" : alert.state);
    badge.textContent = silenced ? "silenced" : alert.state;
    const value = alert.value === null ? "no data" : formatValue(alert.value);
    item.append(badge, alert.rule.name + " — " + value + " (" + alert.rule.when + " " + formatValue(alert.rule.threshold) +
      ") since " + clock(alert.since) + ": " + alert.rule.summary);
    list.append(item);
  }
  if (!shown.length) {
    const item = document.createElement("li");
    item.className = "muted";
    item.textContent = "no alerts";
    list.append(item);
  }
  renderSilences(body.silences);
  renderRuleChoices(body.alerts);
  const history = document.getElementById("alert-history");
  history.replaceChildren(...body.history.slice(0, 50).map((t) => {
    const item = document.createElement("li");
    item.textContent = clock(t.at) + " " + t.rule + ": " + t.from + " → " + t.to;
    return item;
  }));
}

function renderSilences(silences) {
  const list = document.getElementById("silence-list");
  list.replaceChildren(...silences.map((s) => {
    const item = document.createElement("li");
    item.dataset.silence = s.id;
    const end = document.createElement("button");
    end.type = "button";
    end.textContent = "end";
    end.onclick = async () => {
      await api("/api/silences/" + s.id, { method: "DELETE" });
      refreshAlerts();
    };
    item.append("silence #" + s.id + " of " + (s.rule || "all rules") + " until " + dateTime(s.until) + ": " + s.comment + " ", end);
    return item;
  }));
}

function renderRuleChoices(alerts) {
  const select = document.querySelector("#silence-form select[name=rule]");
  if (select.options.length > 1) return;
  for (const alert of alerts) select.add(new Option(alert.rule.name, alert.rule.name));
}

async function addSilence(event) {
  event.preventDefault();
  const form = event.target;
  const result = document.getElementById("silence-result");
  const body = { duration: form.duration.value, comment: form.comment.value };
  if (form.rule.value) body.rule = form.rule.value;
  const response = await api("/api/silences", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  result.textContent = response.ok ? "silence #" + answer.id + " added" : answer.error;
  if (response.ok) form.comment.value = "";
  refreshAlerts();
}

function formatValue(v) {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

function dateTime(epochSeconds) {
  return new Date(epochSeconds * 1000).toISOString().slice(0, 19).replace("T", " ") + "Z";
}

function clock(epochSeconds) {
  return new Date(epochSeconds * 1000).toISOString().slice(11, 19) + "Z";
}

// ---- SVG helpers ----

function element(name, attributes) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
  return node;
}

function text(x, y, content, anchor, className) {
  const node = element("text", { x, y, "text-anchor": anchor });
  if (className) node.setAttribute("class", className);
  node.textContent = content;
  return node;
}

function empty(svg, message) {
  svg.replaceChildren();
  const { width, height } = size(svg);
  svg.append(text(width / 2, height / 2, message, "middle"));
}

function size(svg) {
  const box = svg.getBoundingClientRect();
  svg.setAttribute("viewBox", `0 0 ${box.width || 300} ${box.height || 150}`);
  return { width: box.width || 300, height: box.height || 150 };
}

function extent(values) {
  return [Math.min(...values), Math.max(...values)];
}

function color(variable) {
  return getComputedStyle(document.documentElement).getPropertyValue(variable).trim();
}

function timeLabel(iso) {
  return iso.slice(11, 16);
}

// ---- theme ----

function applyTheme() {
  const chosen = localStorage.getItem("ratings-theme");
  if (chosen) document.documentElement.dataset.theme = chosen;
  else delete document.documentElement.dataset.theme;
}

function toggleTheme() {
  const dark = getComputedStyle(document.documentElement).colorScheme === "dark";
  localStorage.setItem("ratings-theme", dark ? "light" : "dark");
  applyTheme();
  render();
}

// ---- start ----

document.addEventListener("DOMContentLoaded", () => {
  applyTheme();
  readUrl();
  for (const b of document.querySelectorAll("#kind button")) b.onclick = () => { state.kind = b.dataset.kind; start(); };
  for (const b of document.querySelectorAll("#range button")) b.onclick = () => { state.range = b.dataset.range; start(); };
  document.getElementById("theme").onclick = toggleTheme;
  window.addEventListener("resize", scheduleRender);
  setInterval(() => renderUpdated(windowsInRange().pop()), 1000);
  document.getElementById("silence-form").onsubmit = addSilence;
  setInterval(refreshStatus, 5000);
  setInterval(refreshAlerts, 2000);
  refreshStatus();
  refreshAlerts();
  start();
});
