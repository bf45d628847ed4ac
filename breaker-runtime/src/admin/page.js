"use strict";
// The admin router's page, served by the crate (no build step, nothing fetched from
// elsewhere). It never holds the whole registry: it reads the summary and a page of
// breakers at a time (more as the table scrolls to its end; filtered on the server as
// one types), follows transitions from the event stream, and reads again only the rows
// in sight. Its work is done in animation frames, a batch at a time, so a storm of
// transitions never blocks the page.

const body = document.body;
const base = body.dataset.base;
const writes = body.dataset.writes;
const reads = body.dataset.reads;
const PAGE = 200;
const HISTORY = 24;
const STATES = ["closed", "open", "half_open", "forced_open", "disabled"];

const tbody = document.getElementById("rows");
const filter = document.getElementById("filter");
const token = document.getElementById("token");
const message = document.getElementById("message");
const live = document.getElementById("live");
const more = document.getElementById("more");

const rows = new Map(); // name -> {tr, cells, timeline}
// The view: from the page's own URL first (`?prefix=fetch[&state=open&set=fetch`), so
// that a filtered view can be linked to; kept in the URL as it changes.
const params = new URLSearchParams(location.search);
const view = {
  prefix: params.get("prefix") || "",
  states: new Set((params.get("state") || "").split(",").filter(s => STATES.includes(s))),
  set: params.get("set") || "",
};
filter.value = view.prefix;
function remember() {
  const q = new URLSearchParams();
  if (view.prefix) q.set("prefix", view.prefix);
  if (view.states.size) q.set("state", [...view.states].join(","));
  if (view.set) q.set("set", view.set);
  const search = q.toString();
  history.replaceState(null, "", location.pathname + (search ? "?" + search : ""));
}
let next = null; // the cursor of the next page, or null
let generation = 0; // bumped when the view changes: older answers are dropped
let loading = false;
let counts = null; // the summary, kept current from the stream

// The page's own measures, for whoever watches it (the tests read them).
let longTasks = 0;
let transitions = 0;
let resyncs = 0;
try {
  new PerformanceObserver(list => {
    for (const entry of list.getEntries()) if (entry.duration > 200) longTasks++;
    body.dataset.longTasks = longTasks;
  }).observe({ type: "longtask", buffered: true });
} catch (_) { /* no long-task timing in this browser */ }
body.dataset.longTasks = 0;

if (writes === "bearer" || reads === "bearer") {
  token.hidden = false;
  token.value = sessionStorage.getItem("breaker-admin-token") || "";
  token.addEventListener("change", () => {
    sessionStorage.setItem("breaker-admin-token", token.value);
    message.textContent = "";
    reload();
    listen();
  });
}
if (writes === "none") document.querySelector("th.actions").hidden = true;

function headers(extra) {
  const h = Object.assign({}, extra);
  if (token.value) h.Authorization = "Bearer " + token.value;
  return h;
}

async function api(path) {
  const response = await fetch(base + path, { cache: "no-store", headers: headers() });
  if (response.status === 401) {
    token.hidden = false;
    message.textContent = "this router needs its token to show anything: enter it above";
    throw new Error("unauthorized");
  }
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  return response.json();
}

function label(phase) { return phase.replace("_", " "); }
function colour(phase) { return `var(--${STATES.includes(phase) ? phase : "disabled"})`; }
function period(s) { return s < 1 ? `${(s * 1000).toFixed(0)} ms` : s < 120 ? `${+s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`; }
function seconds(s) { return s == null ? "" : s < 1 ? "probe due" : s < 120 ? `${s.toFixed(0)} s` : `${(s / 60).toFixed(0)} min`; }
function badge(phase, text) {
  const span = document.createElement("span");
  span.className = "badge";
  span.style.background = colour(phase);
  span.textContent = text;
  return span;
}

// Rows in sight, to read again now and then.
const inSight = new Set();
const sight = new IntersectionObserver(entries => {
  for (const e of entries) {
    const name = e.target.dataset.name;
    if (e.isIntersecting) inSight.add(name); else inSight.delete(name);
  }
});

function row(name) {
  let r = rows.get(name);
  if (r) return r;
  const tr = document.createElement("tr");
  tr.dataset.name = name;
  const cells = {};
  for (const [key, cls] of [["name", "name"], ["state", ""], ["failures", "num"], ["calls", "num wide"],
                            ["rejected", "num wide"], ["retry", "wide"], ["fleet", "wide"], ["timeline", ""], ["actions", ""]]) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    tr.appendChild(td);
    cells[key] = td;
  }
  cells.name.textContent = name;
  const timeline = document.createElement("div");
  timeline.className = "timeline";
  cells.timeline.appendChild(timeline);
  if (writes === "none") {
    cells.actions.hidden = true;
  } else {
    for (const [state, text] of [["forced_open", "Force open"], ["disabled", "Disable"], ["closed", "Close"]]) {
      const button = document.createElement("button");
      button.textContent = text;
      button.dataset.state = state;
      button.addEventListener("click", () => change(name, state));
      cells.actions.appendChild(button);
    }
  }
  r = { tr, cells, timeline };
  rows.set(name, r);
  tbody.appendChild(tr);
  sight.observe(tr);
  return r;
}

function show(b) {
  const r = row(b.name);
  r.tr.dataset.phase = b.phase;
  r.cells.state.replaceChildren(badge(b.phase, label(b.phase)));
  // A throttle refusing calls at random while closed: how many.
  if (b.throttle_probability > 0) {
    const throttling = document.createElement("small");
    throttling.className = "throttle";
    throttling.textContent = `throttling ${(b.throttle_probability * 100).toFixed(0)}%`;
    throttling.title = "The share of calls the throttle refuses now";
    r.cells.state.appendChild(throttling);
  }
  r.cells.failures.textContent = b.fail_counter;
  r.cells.calls.textContent = b.calls ? b.calls.success + b.calls.failure + b.calls.ignored : "";
  r.cells.rejected.textContent = b.calls ? b.calls.rejected : "";
  r.cells.retry.textContent = b.phase === "open" ? seconds(b.retry_after_secs) : "";
  // An open period the upstream advised (Retry-After, RetryInfo, pushback): how long, and who said so.
  if (b.advice && b.phase !== "closed") {
    const advised = document.createElement("small");
    advised.className = "advice";
    advised.textContent = `advised ${period(b.advice.seconds)} · ${b.advice.source}`;
    advised.title = "The upstream's advice set this open period";
    r.cells.retry.appendChild(advised);
  }
  r.cells.fleet.textContent = b.fleet ? `${b.fleet.state || "?"} · ${b.fleet.backend}` : "";
}

// What the table shows: the view's first page, then the next ones as it scrolls.
function query(extra) {
  const q = new URLSearchParams({ limit: PAGE });
  if (view.prefix) q.set("prefix", view.prefix);
  if (view.states.size) q.set("state", [...view.states].join(","));
  if (view.set) q.set("set", view.set);
  for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
  return "breakers?" + q;
}

async function firstPage() {
  remember();
  const mine = ++generation;
  loading = true;
  try {
    const page = await api(query());
    if (mine !== generation) return;
    for (const r of rows.values()) sight.unobserve(r.tr);
    rows.clear();
    inSight.clear();
    tbody.replaceChildren();
    for (const b of page.breakers) show(b);
    next = page.next;
    if (page.breakers.length && !performance.getEntriesByName("rows").length) performance.mark("rows");
    document.getElementById("empty").hidden = rows.size > 0;
    more.textContent = next ? "more below" : "";
  } finally {
    if (mine === generation) loading = false;
  }
}

async function nextPage() {
  if (loading || !next) return;
  const mine = generation;
  loading = true;
  try {
    const page = await api(query({ after: next }));
    if (mine !== generation) return;
    for (const b of page.breakers) show(b);
    next = page.next;
    more.textContent = next ? "more below" : "";
  } finally {
    if (mine === generation) loading = false;
  }
}
new IntersectionObserver(entries => { if (entries.some(e => e.isIntersecting)) nextPage().catch(fail); })
  .observe(more);

function renderSummary() {
  if (!counts) return;
  body.dataset.summary = JSON.stringify(counts.states);
  const parts = STATES.filter(s => counts.states[s]).map(s => {
    const button = document.createElement("button");
    button.appendChild(badge(s, `${counts.states[s]} ${label(s)}`));
    button.title = `show only ${label(s)} breakers`;
    if (view.states.has(s)) button.className = "chosen";
    button.addEventListener("click", () => {
      if (view.states.has(s)) view.states.delete(s); else view.states.add(s);
      renderSummary();
      firstPage().catch(fail);
    });
    return button;
  });
  document.getElementById("summary").replaceChildren(...parts);
  const sets = counts.sets.slice(0, 50).map(set => {
    const button = document.createElement("button");
    const open = set.keys - (set.states.closed || 0);
    button.textContent = `${set.name}: ${set.keys} keys${open ? `, ${open} not closed` : ""}`;
    if (view.set === set.name) button.className = "chosen";
    button.addEventListener("click", () => {
      view.set = view.set === set.name ? "" : set.name;
      renderSummary();
      firstPage().catch(fail);
    });
    return button;
  });
  document.getElementById("sets").replaceChildren(...sets);
}

async function loadSummary() {
  counts = await api("summary");
  renderSummary();
}

function reload() {
  return Promise.all([loadSummary(), firstPage()]).catch(fail);
}

let typing = null;
filter.addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(() => { view.prefix = filter.value.trim(); firstPage().catch(fail); }, 200);
});

// Transitions, applied a batch per frame.
const queued = [];
let drawing = false;
const stale = new Set();

function heard(t) {
  queued.push(t);
  if (drawing) return;
  drawing = true;
  requestAnimationFrame(draw);
}

function draw() {
  const started = performance.now();
  // At most ~8 ms of work a frame; the rest waits for the next one.
  while (queued.length && performance.now() - started < 8) {
    const t = queued.shift();
    transitions++;
    // The summary has every transition up to its `latest_event` in it already.
    if (counts && t.n > counts.latest_event) {
      counts.states[t.from] = Math.max(0, (counts.states[t.from] || 0) - 1);
      counts.states[t.to] = (counts.states[t.to] || 0) + 1;
      const set = t.key != null && counts.sets.find(s => t.name === `${s.name}[${t.key}]`);
      if (set) {
        set.states[t.from] = Math.max(0, (set.states[t.from] || 0) - 1);
        set.states[t.to] = (set.states[t.to] || 0) + 1;
      }
    }
    const r = rows.get(t.name);
    if (r) {
      r.tr.dataset.phase = t.to;
      r.cells.state.replaceChildren(badge(t.to, label(t.to)));
      const i = document.createElement("i");
      i.style.background = colour(t.to);
      i.title = `${t.time}: ${label(t.from)} → ${label(t.to)} (${t.reason}, ${t.origin})`;
      r.timeline.appendChild(i);
      while (r.timeline.childElementCount > HISTORY) r.timeline.firstElementChild.remove();
      stale.add(t.name);
    }
  }
  body.dataset.transitions = transitions;
  renderSummary();
  if (queued.length) requestAnimationFrame(draw); else drawing = false;
}

// The counts of rows that changed, or are in sight, read again: a request for up to a
// hundred names, at most every half second.
async function refresh(names) {
  const list = [...names].slice(0, 100);
  if (!list.length) return;
  const q = new URLSearchParams();
  for (const n of list) q.append("name", n);
  const page = await api("breakers?" + q);
  for (const b of page.breakers) if (rows.has(b.name)) show(b);
}
setInterval(() => {
  if (!stale.size) return;
  const names = [...stale];
  stale.clear();
  refresh(names).catch(() => {});
}, 500);
setInterval(() => {
  if (document.hidden) return;
  refresh(inSight).catch(() => {});
  loadSummary().catch(() => {});
}, 10000);

async function change(name, state) {
  message.textContent = "";
  const response = await fetch(base + "state", {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify({ name, state }),
  });
  const answer = await response.json().catch(() => ({}));
  if (response.ok) show(answer); else message.textContent = answer.error || response.statusText;
}

// The event stream, read with fetch (so that a token can go with it), resumed where it
// left off after a reconnection; a `resync` (another process, or too far behind) reads
// everything again.
let lastId = null;
let stream = null;
async function listen() {
  if (stream) stream.abort();
  const controller = new AbortController();
  stream = controller;
  let wait = 1000;
  while (stream === controller) {
    try {
      const h = headers({ Accept: "text/event-stream" });
      if (lastId) h["Last-Event-ID"] = lastId;
      const response = await fetch(base + "events", { headers: h, cache: "no-store", signal: controller.signal });
      if (response.status === 401) { await api("events"); }
      if (!response.ok) throw new Error(`${response.status}`);
      live.textContent = "live";
      live.className = "on";
      if (!performance.getEntriesByName("live").length) performance.mark("live");
      wait = 1000;
      await read(response.body.getReader());
    } catch (e) {
      if (controller.signal.aborted) return;
    }
    live.textContent = "reconnecting";
    live.className = "";
    await new Promise(r => setTimeout(r, wait));
    wait = Math.min(wait * 2, 10000);
  }
}

async function read(reader) {
  const decoder = new TextDecoder();
  let buffer = "";
  let event = { type: "message", data: "", id: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).replace(/\r$/, "");
      buffer = buffer.slice(end + 1);
      if (line === "") {
        if (event.id !== null) lastId = event.id;
        if (event.type === "transition") {
          const t = JSON.parse(event.data);
          t.n = Number((event.id || "").split("-")[1] || 0);
          heard(t);
        }
        else if (event.type === "resync") { body.dataset.resyncs = ++resyncs; reload(); }
        event = { type: "message", data: "", id: null };
      } else if (line.startsWith("event:")) event.type = line.slice(6).trim();
      else if (line.startsWith("data:")) event.data += (event.data ? "\n" : "") + line.slice(5).trimStart();
      else if (line.startsWith("id:")) event.id = line.slice(3).trim();
    }
  }
}

function fail(e) {
  if (e && e.message !== "unauthorized") message.textContent = "could not read the breakers: " + e.message;
}

reload().then(listen);
