// The lockstep web page: plain DOM, no framework, no build step.
// Every piece of data goes into the page as text (textContent / text nodes), never as HTML.
"use strict";

const KEY_STORE = "lockstep.apiKey";
const $ = (id) => document.getElementById(id);

const ui = {
  auth: true,
  jobs: new Map(), // job id -> job JSON
  selected: null, // job id shown in the detail panel
  refreshing: false,
  refreshAgain: false,
  stream: null, // AbortController of the live job stream
  diagramUrl: null,
  viewing: null, // {id, version} in the artifact viewer
};

// -- small DOM helpers -------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

function when(iso, short) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  if (!short) return d.toLocaleString();
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function badge(status) {
  return el("span", { class: "badge s-" + String(status).replace(/[^a-z_]/g, "") }, status);
}

// -- API calls ---------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(extra) {
  const h = Object.assign({ Accept: "application/json" }, extra || {});
  const key = localStorage.getItem(KEY_STORE);
  if (ui.auth && key) h.Authorization = "Bearer " + key;
  return h;
}

function detailOf(body, status) {
  // FastAPI errors: {"detail": "text"} or {"detail": [{loc, msg}, ...]} for 422.
  const d = body && body.detail;
  if (typeof d === "string") return d;
  if (Array.isArray(d)) return d.map((e) => (e.loc || []).join(".") + ": " + e.msg).join("; ");
  return "request failed with HTTP " + status;
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.json !== undefined ? { "Content-Type": "application/json" } : {});
  if (opts.json !== undefined) {
    opts.body = JSON.stringify(opts.json);
    delete opts.json;
  }
  const resp = await fetch(path, opts);
  if (resp.status === 401 && ui.auth) {
    askKey("The server refused the key; enter a valid one.");
    throw new ApiError(401, "a valid API key is required");
  }
  const type = resp.headers.get("content-type") || "";
  const body = type.includes("json") ? await resp.json() : await resp.blob();
  if (!resp.ok) {
    let message = detailOf(body, resp.status);
    const retry = resp.headers.get("retry-after");
    if (retry) message += " (retry after " + retry + " s)";
    throw new ApiError(resp.status, message);
  }
  return body;
}

// -- the API key -------------------------------------------------------------------------

function askKey(message) {
  stopStream();
  localStorage.removeItem(KEY_STORE);
  $("app").hidden = true;
  $("login").hidden = false;
  $("change-key").hidden = true;
  $("conn").hidden = true;
  $("key-error").textContent = message || "";
  $("key-input").focus();
}

async function useKey(event) {
  event.preventDefault();
  const key = $("key-input").value.trim();
  if (!key) return;
  localStorage.setItem(KEY_STORE, key);
  $("key-input").value = "";
  try {
    await api("/jobs?limit=1");
  } catch (err) {
    if (err.status !== 401) $("key-error").textContent = err.message;
    return;
  }
  start();
}

// -- the job list, live over SSE ---------------------------------------------------------

// EventSource cannot send an Authorization header, so the stream is read with fetch():
// a small parser for the text/event-stream format (fields, blank line ends a message).
async function readEvents(path, onMessage, signal, onOpen) {
  let lastId = null;
  while (!signal.aborted) {
    try {
      const extra = lastId ? { "Last-Event-ID": lastId } : {};
      const resp = await fetch(path, { headers: headers(extra), signal });
      if (resp.status === 401 && ui.auth) {
        askKey("The server refused the key; enter a valid one.");
        return;
      }
      if (!resp.ok || !resp.body) throw new Error("HTTP " + resp.status);
      setConn(true);
      if (onOpen) onOpen();
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      let msg = { id: null, event: "message", data: [] };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        for (;;) {
          const m = buf.match(/\r\n|\n|\r/);
          if (!m) break;
          if (m[0] === "\r" && m.index === buf.length - 1) break; // maybe "\r\n" split
          const line = buf.slice(0, m.index);
          buf = buf.slice(m.index + m[0].length);
          if (line === "") {
            if (msg.id !== null) lastId = msg.id;
            if (msg.data.length) onMessage(msg.event, msg.data.join("\n"));
            msg = { id: null, event: "message", data: [] };
            continue;
          }
          if (line.startsWith(":")) continue; // keep-alive comment
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? "" : line.slice(colon + 1);
          if (val.startsWith(" ")) val = val.slice(1);
          if (field === "data") msg.data.push(val);
          else if (field === "event") msg.event = val;
          else if (field === "id") msg.id = val;
        }
      }
    } catch (err) {
      if (signal.aborted) return;
    }
    setConn(false);
    await new Promise((r) => setTimeout(r, 1500));
  }
}

function setConn(live) {
  $("conn").textContent = live ? "live" : "reconnecting…";
  $("conn").className = "conn " + (live ? "on" : "off");
}

function stopStream() {
  if (ui.stream) ui.stream.abort();
  ui.stream = null;
}

function onJobEvent(kind, data) {
  let event;
  try {
    event = JSON.parse(data);
  } catch (err) {
    return;
  }
  const job = ui.jobs.get(event.job_id);
  if (!job) {
    api("/jobs/" + encodeURIComponent(event.job_id)).then(upsertJob, () => {});
    return;
  }
  if (event.status) job.status = event.status;
  renderJobs();
  if (ui.selected === event.job_id) refreshDetail();
}

function upsertJob(job) {
  ui.jobs.set(job.id, job);
  renderJobs();
}

async function loadJobs() {
  const jobs = await api("/jobs?limit=50");
  for (const job of jobs) ui.jobs.set(job.id, job);
  renderJobs();
}

function renderJobs() {
  const body = $("jobs").querySelector("tbody");
  clear(body);
  const jobs = [...ui.jobs.values()].sort((a, b) =>
    String(b.submitted_at).localeCompare(String(a.submitted_at)),
  );
  for (const job of jobs) {
    const row = el(
      "tr",
      {
        class: job.id === ui.selected ? "selected" : "",
        "data-job": job.id,
        "data-status": job.status,
        tabindex: "0",
        onclick: () => select(job.id),
        onkeydown: (e) => {
          if (e.key === "Enter") select(job.id);
        },
      },
      el("td", {}, el("strong", {}, job.workflow), job.input && job.input.topic ? el("div", { class: "sub" }, job.input.topic) : null),
      el("td", {}, badge(job.status), job.outcome ? el("div", { class: "sub wrap" }, job.outcome) : null),
      el("td", { title: when(job.submitted_at) }, when(job.submitted_at, true), el("div", { class: "sub mono" }, job.id.slice(0, 8))),
    );
    body.append(row);
  }
  $("jobs-empty").hidden = jobs.length > 0;
}

// -- submitting a run --------------------------------------------------------------------

function lines(text) {
  return text.split(/\n/).map((s) => s.trim()).filter(Boolean);
}

async function submitRun(event) {
  event.preventDefault();
  const workflow = $("f-workflow").value;
  const input = { topic: $("f-topic").value.trim(), sources: lines($("f-sources").value) };
  if (workflow === "training") {
    for (const field of ["audience", "deadline", "language"]) {
      const v = $("f-" + field).value.trim();
      if (v) input[field] = v;
    }
    if ($("f-duration").value) input.duration = Number($("f-duration").value);
  }
  const msg = $("submit-msg");
  msg.className = "msg";
  msg.textContent = "Submitting…";
  $("f-submit").disabled = true;
  try {
    const job = await api("/jobs", {
      method: "POST",
      json: { workflow, input, priority: $("f-priority").value },
    });
    upsertJob(job);
    msg.textContent = "Queued job " + job.id.slice(0, 8) + ".";
    select(job.id);
  } catch (err) {
    msg.className = "msg error";
    msg.textContent = err.message;
  } finally {
    $("f-submit").disabled = false;
  }
}

// -- the selected job --------------------------------------------------------------------

function select(jobId) {
  ui.selected = jobId;
  ui.viewing = null;
  $("viewer").hidden = true;
  $("g-comment").value = "";
  $("g-sources").value = "";
  $("g-msg").textContent = "";
  $("d-notice").hidden = true;
  $("detail").hidden = false;
  $("placeholder").hidden = true;
  renderJobs();
  refreshDetail();
}

// One refresh at a time; events arriving meanwhile ask for one more afterwards.
async function refreshDetail() {
  if (ui.refreshing) {
    ui.refreshAgain = true;
    return;
  }
  ui.refreshing = true;
  try {
    do {
      ui.refreshAgain = false;
      await loadDetail(ui.selected);
    } while (ui.refreshAgain);
  } finally {
    ui.refreshing = false;
  }
}

async function loadDetail(jobId) {
  if (!jobId) return;
  $("d-error").textContent = "";
  let job;
  try {
    job = await api("/jobs/" + encodeURIComponent(jobId));
  } catch (err) {
    $("d-error").textContent = err.message;
    return;
  }
  if (jobId !== ui.selected) return;
  ui.jobs.set(job.id, Object.assign(ui.jobs.get(job.id) || {}, job));
  renderJobs();
  renderJobMeta(job);
  renderEvents(job.events || []);
  const tid = encodeURIComponent(job.thread_id);
  let thread = null;
  let path = null;
  try {
    [thread, path] = await Promise.all([api("/threads/" + tid), api("/ui/threads/" + tid + "/path")]);
  } catch (err) {
    if (err.status !== 404) $("d-error").textContent = err.message;
  }
  if (jobId !== ui.selected) return;
  renderPath(path);
  renderGate(job, thread);
  await renderDiagram(thread ? job.thread_id : null);
  await renderArtifacts(thread ? job.thread_id : null);
}

function renderJobMeta(job) {
  $("d-title").textContent = job.workflow + " · " + (job.input && job.input.topic ? job.input.topic : job.id);
  const meta = $("d-meta");
  clear(meta);
  const rows = [
    ["Job", job.id],
    ["Status", badge(job.status)],
    ["Thread", job.thread_id],
    ["Queue", job.queue + " (priority " + job.priority + ")"],
    ["By", job.user_name || ""],
    ["Submitted", when(job.submitted_at)],
    ["Finished", when(job.finished_at)],
    ["Attempts", job.attempts],
  ];
  if (job.outcome) rows.push(["Outcome", job.outcome]);
  if (job.error) rows.push(["Error", job.error]);
  for (const [k, v] of rows) {
    if (v === "" || v === null || v === undefined) continue;
    meta.append(el("dt", {}, k), el("dd", { "data-field": k.toLowerCase() }, v));
  }
}

function renderEvents(events) {
  const list = $("d-events");
  clear(list);
  for (const e of events.slice().reverse()) {
    const detail = e.detail && Object.keys(e.detail).length ? JSON.stringify(e.detail) : "";
    list.append(el("li", {}, el("span", { class: "muted" }, when(e.at)), " ", el("strong", {}, e.kind), " ", detail));
  }
}

function renderPath(doc) {
  const list = $("d-path");
  clear(list);
  if (!doc) {
    list.append(el("li", { class: "muted" }, "Not started yet."));
    return;
  }
  const kinds = Object.fromEntries(doc.states.map((s) => [s.name, s.type]));
  // Steps: the states in the order entered; a self-loop (a batch, a section) only counts.
  const steps = [{ name: doc.path.length ? doc.path[0].from : doc.current, event: null, times: 1 }];
  for (const t of doc.path) {
    const last = steps[steps.length - 1];
    if (t.to === last.name) last.times += 1;
    else steps.push({ name: t.to, event: t.event, times: 1 });
  }
  steps.forEach((step, i) => {
    const last = i === steps.length - 1;
    const cls = ["step", "k-" + (kinds[step.name] || "step")];
    if (last) cls.push("current");
    const item = el(
      "li",
      { class: cls.join(" "), "data-state": step.name, title: (kinds[step.name] || "step").replace("_", " ") },
      step.event ? el("span", { class: "event" }, step.event) : null,
      el("span", {}, step.name, step.times > 1 ? el("span", { class: "times" }, " ×" + step.times) : null),
    );
    if (last) item.setAttribute("aria-current", "step");
    list.append(item);
  });
}

async function renderDiagram(threadId) {
  const img = $("d-diagram");
  if (ui.diagramUrl) URL.revokeObjectURL(ui.diagramUrl);
  ui.diagramUrl = null;
  img.removeAttribute("src");
  $("d-diagram-box").hidden = !threadId;
  if (!threadId) return;
  try {
    // Fetched with the key, then shown through a blob URL (an <img> cannot send headers).
    const svg = await api("/ui/threads/" + encodeURIComponent(threadId) + "/diagram.svg");
    ui.diagramUrl = URL.createObjectURL(svg);
    img.src = ui.diagramUrl;
  } catch (err) {
    $("d-error").textContent = err.message;
  }
}

// -- the pending gate --------------------------------------------------------------------

function renderGate(job, thread) {
  const box = $("d-gate");
  // A queued or running job is already answering the gate (or re-running a step).
  const gate = thread && !["queued", "running"].includes(job.status) ? thread.gate : null;
  box.hidden = !gate;
  if (!gate) {
    box.dataset.interrupt = "";
    return;
  }
  $("d-notice").hidden = true;
  if (box.dataset.interrupt === gate.interrupt_id) return; // keep what the user typed
  box.dataset.interrupt = gate.interrupt_id;
  $("g-title").textContent = "Waiting for you: " + gate.gate;
  $("g-desc").textContent = gate.description || "";
  $("g-deadline").textContent = gate.deadline ? "Deadline " + when(gate.deadline) : "";
  $("g-msg").textContent = gate.error || "";
  renderReview(gate.review || {});
  const needsSources = Object.values(gate.requires || {}).some((f) => f.includes("sources"));
  $("g-sources-box").hidden = !needsSources;
  const buttons = $("g-buttons");
  clear(buttons);
  for (const decision of gate.decisions || []) {
    if (decision === "timeout") continue; // raised by the deadline, not by a person
    const needs = (gate.comment_required || []).includes(decision) ? " (needs a comment)" : "";
    buttons.append(
      el(
        "button",
        {
          type: "button",
          class: "decision d-" + decision.replace(/[^a-z_]/g, ""),
          "data-decision": decision,
          title: decision + needs,
          onclick: () => decide(job.thread_id, decision),
        },
        decision.replace(/_/g, " "),
      ),
    );
  }
}

async function decide(threadId, decision) {
  const msg = $("g-msg");
  msg.className = "msg";
  msg.textContent = "Sending " + decision + "…";
  const body = { decision };
  const comment = $("g-comment").value.trim();
  if (comment) body.comment = comment;
  const sources = $("g-sources").value.trim();
  if (sources && !$("g-sources-box").hidden) body.sources = sources;
  for (const b of $("g-buttons").querySelectorAll("button")) b.disabled = true;
  try {
    const answer = await api("/threads/" + encodeURIComponent(threadId) + "/decision", {
      method: "POST",
      json: body,
    });
    msg.textContent = "";
    $("g-comment").value = "";
    $("d-notice").hidden = false;
    $("d-notice").textContent =
      "Decision " + decision + " recorded" + (answer.job ? "; a worker continues the run." : ".");
    if (answer.job) upsertJob(answer.job);
  } catch (err) {
    msg.className = "msg error";
    msg.textContent = err.message;
  } finally {
    for (const b of $("g-buttons").querySelectorAll("button")) b.disabled = false;
  }
  await refreshDetail();
}

// The material to review, by what the gate's review holds: objectives, a draft with its
// citations (fetched from the artifact store), failures, and plain fields for the rest.
function renderReview(review) {
  const box = $("g-review");
  clear(box);
  const rest = Object.assign({}, review);
  if (Array.isArray(rest.objectives)) {
    box.append(el("h4", {}, "Objectives"), objectiveList(rest.objectives));
    delete rest.objectives;
  }
  for (const key of ["draft", "objectives_ref", "design", "report", "research"]) {
    if (rest[key] && rest[key].id) {
      box.append(artifactBlock(key, rest[key]));
      delete rest[key];
    }
  }
  if (Array.isArray(rest.failures) && rest.failures.length) {
    box.append(el("h4", {}, "Citation failures"), el("ul", {}, ...rest.failures.map((f) => el("li", {}, f))));
  }
  delete rest.failures;
  const dl = el("dl", { class: "meta" });
  for (const [k, v] of Object.entries(rest)) {
    if (v === null || v === undefined || v === "") continue;
    const text = typeof v === "object" ? JSON.stringify(v) : String(v);
    dl.append(el("dt", {}, k.replace(/_/g, " ")), el("dd", {}, text));
  }
  if (dl.childNodes.length) box.prepend(dl);
}

function objectiveList(objectives) {
  const list = el("ol", { class: "objectives" });
  for (const o of objectives) {
    if (typeof o !== "object" || o === null) {
      list.append(el("li", {}, String(o)));
      continue;
    }
    const facts = [o.id, o.level, o.verb, o.source].filter(Boolean).join(" · ");
    list.append(
      el(
        "li",
        {},
        el("div", {}, o.text || JSON.stringify(o)),
        facts ? el("div", { class: "sub" }, facts) : null,
        o.quote ? el("blockquote", {}, o.quote) : null,
      ),
    );
  }
  return list;
}

function artifactBlock(label, ref) {
  const pre = el("pre", { class: "material" }, "Loading " + ref.id + "@" + ref.version + "…");
  api("/artifacts/" + encodeURIComponent(ref.id + "@" + ref.version)).then(
    (doc) => {
      pre.textContent = doc.content;
    },
    (err) => {
      pre.textContent = err.message;
    },
  );
  return el("details", { open: label === "draft" ? "" : null }, el("summary", {}, label.replace(/_/g, " ") + " (" + ref.id + "@" + ref.version + ")"), pre);
}

// -- artifacts, versions and diffs -------------------------------------------------------

async function renderArtifacts(threadId) {
  const body = $("d-artifacts").querySelector("tbody");
  let list = [];
  if (threadId) {
    try {
      list = await api("/threads/" + encodeURIComponent(threadId) + "/artifacts");
    } catch (err) {
      if (err.status !== 404) $("d-error").textContent = err.message;
    }
  }
  if (threadId !== (ui.jobs.get(ui.selected) || {}).thread_id) return;
  const byId = new Map();
  for (const a of list) {
    if (!byId.has(a.id)) byId.set(a.id, []);
    byId.get(a.id).push(a);
  }
  clear(body);
  for (const [id, versions] of byId) {
    const latest = versions[versions.length - 1];
    const buttons = versions.map((a) =>
      el(
        "button",
        {
          type: "button",
          class: "small version" + (a.status !== "complete" ? " st-" + a.status : ""),
          title: a.status + ", " + a.size + " bytes, " + when(a.created_at),
          "data-artifact": id,
          "data-version": String(a.version),
          onclick: () => showArtifact(id, a.version, false),
        },
        "v" + a.version,
      ),
    );
    body.append(el("tr", {}, el("td", {}, latest.name), el("td", {}, latest.type || latest.format), el("td", {}, ...buttons)));
  }
  $("d-artifacts-empty").hidden = byId.size > 0;
}

async function showArtifact(id, version, diff) {
  ui.viewing = { id, version };
  const spec = id + "@" + version;
  const previous = id + "@" + (version - 1);
  $("viewer").hidden = false;
  $("v-title").textContent = diff ? "Changes from v" + (version - 1) + " to v" + version + " of " + id : spec;
  for (const b of $("d-artifacts").querySelectorAll("button.version")) {
    b.classList.toggle("active", b.dataset.artifact === id && b.dataset.version === String(version));
  }
  const pre = $("v-body");
  clear(pre);
  pre.textContent = "Loading…";
  $("v-diff").hidden = diff || version < 2;
  $("v-diff").textContent = "Diff with v" + (version - 1);
  $("v-diff").onclick = () => showArtifact(id, version, true);
  $("v-content").hidden = !diff;
  $("v-content").onclick = () => showArtifact(id, version, false);
  try {
    const doc = await api("/artifacts/" + encodeURIComponent(spec) + (diff ? "?diff=" + encodeURIComponent(previous) : ""));
    clear(pre);
    if (diff) {
      pre.className = "diff";
      for (const line of String(doc.diff || "").split("\n")) {
        const cls = line.startsWith("+++") || line.startsWith("---") ? "hd" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
        pre.append(el("span", { class: "line " + cls }, line));
      }
      if (!doc.diff) pre.textContent = "No differences.";
    } else {
      pre.className = "";
      pre.textContent = doc.format === "zip" ? "(binary " + doc.format + ", " + doc.size + " bytes)" : doc.content;
    }
  } catch (err) {
    pre.textContent = err.message;
  }
}

// -- start -------------------------------------------------------------------------------

async function start() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("change-key").hidden = !ui.auth;
  $("conn").hidden = false;
  stopStream();
  ui.stream = new AbortController();
  // The list is (re)loaded once the stream is open, so no event falls between the two.
  readEvents("/jobs/events", onJobEvent, ui.stream.signal, () => loadJobs().catch((err) => {
    $("submit-msg").textContent = err.message;
  }));
}

async function boot() {
  $("key-form").addEventListener("submit", useKey);
  $("submit-form").addEventListener("submit", submitRun);
  $("change-key").addEventListener("click", () => askKey(""));
  $("d-diagram").addEventListener("click", () => $("d-diagram").classList.toggle("zoom"));
  $("f-workflow").addEventListener("change", () => {
    $("training-fields").hidden = $("f-workflow").value !== "training";
  });
  try {
    const config = await (await fetch("/ui/config")).json();
    ui.auth = config.auth;
  } catch (err) {
    ui.auth = true;
  }
  if (ui.auth && !localStorage.getItem(KEY_STORE)) askKey("");
  else start();
}

boot();
