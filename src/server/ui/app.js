// The stackctld dashboard. Everything it shows comes from the CI API
// (/api/v1/...) and is put in the page as text (textContent, never HTML):
// stack names, commit messages and task errors come from Git and the swarm.
// The API token lives in this tab's sessionStorage only and goes out as a
// bearer header, never in a URL; every change is a POST with that header.
"use strict";

const TOKEN_KEY = "stackctl.token";
const REFRESH_MS = 3000;
const OPERATION_POLL_MS = 1000;
const SYNC_STATES = ["Synced", "OutOfSync", "Progressing", "Failed", "Pinned", "Unknown"];

const $ = (id) => document.getElementById(id);
let refreshTimer = null;
let filter = "";  // a sync state, "" = all
let operationShown = null;  // {id, stack}: the operation the page follows

// el("td", {class: "x"}, "text", otherNode): an element with attributes and
// children; strings become text nodes, so nothing is ever parsed as HTML.
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = {"Accept": "application/json"};
  if (token()) headers["Authorization"] = "Bearer " + token();
  const init = {method, headers, credentials: "omit", cache: "no-store"};
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let doc = null;
  try { doc = await res.json(); } catch (_) { doc = null; }
  if (!res.ok && !(doc && doc.id && doc.state)) {
    throw new ApiError(res.status, (doc && doc.error) || ("HTTP " + res.status));
  }
  return doc;
}

function setStatus(text, kind = "") {
  const s = $("status");
  s.textContent = text;
  s.className = kind;
}

function showTokenForm(show) {
  $("token-form").hidden = !show;
  $("token-forget").hidden = show || !token();
}

const short = (rev) => /^[0-9a-f]{40}$/.test(rev || "") ? rev.slice(0, 12) : (rev || "");

function ago(rfc3339) {
  if (!rfc3339) return "";
  const t = Date.parse(rfc3339);
  if (Number.isNaN(t)) return rfc3339;
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return Math.floor(s / 86400) + "d ago";
}
const time = (rfc3339) => el("time", {datetime: rfc3339, title: rfc3339}, ago(rfc3339));

// The commit's page on a forge whose URL scheme is known, or null. Only
// https links to hosts named like GitHub, GitLab, Gitea/Forgejo/Codeberg.
function commitUrl(repoUrl, commit) {
  if (!/^[0-9a-f]{40}$/.test(commit || "")) return null;
  const m = /^(?:https?:\/\/(?:[^@/]*@)?|ssh:\/\/(?:[^@/]*@)?|[^@/]+@)([A-Za-z0-9.-]+)(?::\d+)?[:/](.+?)(?:\.git)?\/?$/
      .exec(repoUrl || "");
  if (!m) return null;
  const [, host, path] = m;
  if (!/^[\w.-]+(\/[\w.-]+)+$/.test(path)) return null;
  const base = "https://" + host + "/" + path;
  if (/(^|\.)github(\.|$)/i.test(host)) return base + "/commit/" + commit;
  if (/(^|\.)gitlab(\.|$)/i.test(host)) return base + "/-/commit/" + commit;
  if (/(^|\.)(gitea|forgejo|codeberg)(\.|$)/i.test(host)) return base + "/commit/" + commit;
  return null;
}

function revisionCell(s) {
  const url = commitUrl(s.repository_url, s.revision);
  const rev = url ? el("a", {href: url, rel: "noopener noreferrer", target: "_blank"}, short(s.revision))
                  : el("code", {}, short(s.revision) || "—");
  const td = el("td", {class: "revision"}, rev);
  if (s.revision_summary) td.append(" ", el("span", {class: "summary"}, s.revision_summary));
  if (s.revision_author) td.append(el("div", {class: "author"}, s.revision_author.replace(/\s*<.*>$/, "")));
  // A commit that failed for good is not what runs: named apart, with the
  // reason in "Last error".
  if (s.failed_revision && s.failed_revision !== s.revision) {
    td.append(el("div", {id: "failed-revision", class: "error"}, "Failed: ", el("code", {}, short(s.failed_revision)),
                 " (not tried again until a new commit)"));
  }
  return td;
}

const badge = (cls, text) => el("span", {class: "badge " + cls + " " + String(text).toLowerCase()}, text);

// Replaces the view with `parts`, leaving out the null ones (replaceChildren
// would show them as the text "null").
function show(...parts) {
  $("view").replaceChildren(...parts.filter((p) => p !== null && p !== undefined));
}

// ---- the stacks list

async function renderList() {
  const doc = await api("GET", "/api/v1/stacks");
  const stacks = doc.stacks || [];
  const counts = {};
  for (const s of stacks) counts[s.sync] = (counts[s.sync] || 0) + 1;

  const select = el("select", {id: "filter", "aria-label": "Filter by sync state"},
                    el("option", {value: ""}, "All (" + stacks.length + ")"));
  for (const st of SYNC_STATES) {
    select.append(el("option", {value: st, selected: st === filter}, st + " (" + (counts[st] || 0) + ")"));
  }
  select.addEventListener("change", () => { filter = select.value; refresh(); });

  const rows = stacks.filter((s) => !filter || s.sync === filter).map((s) =>
    el("tr", {class: "stack", "data-stack": s.name},
       el("td", {class: "name"}, el("a", {href: "#/stack/" + encodeURIComponent(s.name)}, s.name)),
       el("td", {class: "repo"}, s.repository, el("div", {class: "path"}, s.path || "/")),
       revisionCell(s),
       el("td", {class: "sync"}, badge("sync", s.sync), s.rollout ? rolloutBar(s.rollout) : null),
       el("td", {class: "health"}, badge("health", s.health)),
       el("td", {class: "last"}, s.last_result || "—", " ", time(s.last_sync_time),
          s.last_error ? el("div", {class: "error"}, s.last_error) : null)));
  const table = el("table", {id: "stacks"},
    el("thead", {}, el("tr", {}, ...["Stack", "Repository", "Revision", "Sync", "Health", "Last sync"]
                                        .map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows));
  show(el("div", {class: "toolbar"}, el("h1", {}, "Stacks"), select), table,
       rows.length ? null : el("p", {class: "empty"}, "No stack in this state."));
}

// ---- one stack

function section(title, ...content) {
  return el("section", {}, el("h2", {}, title), ...content);
}

function table(id, headers, rows, empty) {
  if (!rows.length) return el("p", {id, class: "empty"}, empty);
  return el("table", {id}, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
            el("tbody", {}, ...rows));
}

// What trust verification said about the service's image at its last deploy
// (verified by whom, or why not), as the API reports it.
function signatureCell(v) {
  const sig = v.signature || {verdict: "unknown", detail: ""};
  return el("td", {class: "signature", "data-verdict": sig.verdict}, badge("verdict", sig.verdict),
            sig.detail ? el("div", {class: "detail"}, sig.detail) : null);
}

function servicesTable(s) {
  if (!s.services) return el("p", {class: "error"}, "Live state unavailable: " + (s.live_error || "unknown"));
  return table("services", ["Service", "Mode", "Replicas", "Update", "Health", "Image", "Digest", "Signature", "Message"],
    s.services.map((v) => {
      const at = v.image.indexOf("@");
      const image = at < 0 ? v.image : v.image.slice(0, at);
      const digest = at < 0 ? "" : v.image.slice(at + 1);
      return el("tr", {class: "service", "data-service": v.name},
        el("td", {class: "name"}, v.name), el("td", {}, v.mode),
        el("td", {class: "replicas"}, v.running + "/" + v.desired),
        el("td", {}, v.update_state || "—"), el("td", {}, badge("health", v.health)),
        el("td", {class: "image"}, image),
        el("td", {class: "digest", title: digest}, digest ? digest.slice(0, 19) + "…" : "not pinned"),
        signatureCell(v),
        el("td", {class: "message"}, v.message || ""));
    }), "No service.");
}

function rollbackButton(s, h) {
  if (!token() || h.result !== "succeeded") return null;
  const b = el("button", {type: "button", class: "rollback"}, "Roll back here");
  b.addEventListener("click", () => {
    act("Roll stack " + s.name + " back to record " + h.seq + " (" + short(h.revision) +
        ")? The stack is then pinned until resumed.",
        async () => {
          const doc = await api("POST", "/api/v1/stacks/" + encodeURIComponent(s.name) + "/rollback", {to: h.seq});
          followOperation(doc.operation, s.name);
        });
  });
  return b;
}

function historyTable(s) {
  return table("history", ["#", "Revision", "Finished", "Trigger", "Result", "Message", ""],
    (s.history || []).map((h, i) =>
      el("tr", {class: "record", "data-seq": h.seq},
         el("td", {}, h.seq), el("td", {class: "revision"}, el("code", {}, short(h.revision))),
         el("td", {}, time(h.finished_at)), el("td", {}, h.trigger),
         el("td", {}, badge("result", h.result)), el("td", {class: "message"}, h.message),
         el("td", {}, i > 0 ? rollbackButton(s, h) : null))),
    "No deploy recorded yet.");
}

// "wave 1 of 2 (app_db, app_web): 1/2 converged"
function progressText(p) {
  return "wave " + p.wave + " of " + p.waves + " (" + p.services.join(", ") + "): " +
         p.converged + "/" + p.total + " converged";
}

// The wave of a rollout running now, whatever started it (a push, a drift,
// the API): a bar of the converged services and the wave's text.
function rolloutBar(p) {
  return el("div", {class: "progress rollout", "data-wave": p.wave, "data-waves": p.waves},
            el("progress", {max: p.total, value: p.converged}), " " + progressText(p));
}

function operationLine(op) {
  const parts = [op.id + ": " + op.state];
  if (op.progress && (op.state === "running" || op.state === "pending")) parts.push(progressText(op.progress));
  if (op.revision) parts.push("revision " + short(op.revision));
  if (op.result) parts.push(op.result);
  if (op.message) parts.push(op.message);
  if (op.error) parts.push((op.error.service ? "service " + op.error.service + ": " : "") + op.error.message);
  return parts.join(" — ");
}

// The revision field survives the periodic re-render (same element, same
// text); a refresh waits while it has the focus.
let revisionInput = null;

function actions(s) {
  if (!revisionInput || revisionInput.dataset.stack !== s.name) {
    revisionInput = el("input", {id: "sync-revision", placeholder: "revision (default: branch head)",
                                 spellcheck: "false", autocomplete: "off", "data-stack": s.name});
  }
  const revision = revisionInput;
  const sync = el("button", {id: "sync", type: "button"}, "Sync");
  sync.addEventListener("click", () => {
    const rev = revision.value.trim();
    act("Sync stack " + s.name + (rev ? " to " + rev : " to the head of its branch") + "?",
        async () => {
          const doc = await api("POST", "/api/v1/stacks/" + encodeURIComponent(s.name) + "/sync",
                                rev ? {revision: rev} : {});
          followOperation(doc.operation, s.name);
        });
  });
  const pinned = !!s.pinned;
  const pin = el("button", {id: pinned ? "resume" : "pin", type: "button"}, pinned ? "Resume" : "Pin");
  pin.addEventListener("click", () => {
    act(pinned ? "Hand stack " + s.name + " back to the controller (auto-sync)?"
               : "Pin stack " + s.name + "? Automatic syncs will only report differences.",
        async () => {
          await api("POST", "/api/v1/stacks/" + encodeURIComponent(s.name) + (pinned ? "/resume" : "/pin"), {});
          setStatus(pinned ? "Resumed " + s.name : "Pinned " + s.name, "ok");
          refresh();
        });
  });
  return el("div", {class: "actions"}, revision, sync, pin,
            el("span", {id: "operation", role: "status"}));
}

async function renderStack(name) {
  const s = await api("GET", "/api/v1/stacks/" + encodeURIComponent(name));
  const pinned = s.pinned ? el("p", {class: "pinned"}, "Pinned by " + (s.pinned_by || "?") +
                                " at " + short(s.pinned_revision)) : null;
  const lastError = s.last_error
      ? el("div", {id: "last-error", class: "error"},
           s.last_failed_service ? el("strong", {}, "service " + s.last_failed_service + ": ") : null,
           s.last_error)
      : null;
  const failing = (s.services || []).filter((v) => v.health !== "converged" && v.message);
  const ops = s.operations || [];
  show(
    el("div", {class: "toolbar"}, el("h1", {id: "stack-name"}, s.name), badge("sync", s.sync),
       badge("health", s.health)),
    el("table", {class: "facts"}, el("tbody", {},
      el("tr", {}, el("th", {}, "Repository"), el("td", {}, s.repository + " ", el("code", {}, s.repository_url),
                                                 " path ", el("code", {}, s.path || "/"))),
      el("tr", {}, el("th", {}, "Revision"), revisionCell(s)),
      el("tr", {}, el("th", {}, "Branch head"), el("td", {}, el("code", {}, short(s.target_revision) || "—"),
                                                  s.repository_error ? el("div", {class: "error"}, s.repository_error) : null)),
      el("tr", {}, el("th", {}, "Last sync"), el("td", {}, (s.last_result || "—") + " ", time(s.last_sync_time))),
      el("tr", {}, el("th", {}, "Options"), el("td", {}, ["auto_sync", "self_heal", "prune"]
                                                      .map((k) => k + " " + (s[k] ? "on" : "off")).join(", "))))),
    pinned,
    s.rollout ? section("Rollout in progress", el("div", {id: "rollout"}, rolloutBar(s.rollout))) : null,
    token() ? actions(s) : el("p", {class: "hint"}, "Enter the API token above to sync or pin this stack."),
    lastError || failing.length
      ? section("Last error", lastError,
                ...failing.map((v) => el("div", {class: "task-error"}, el("strong", {}, v.name + ": "), v.message)))
      : null,
    ops.length ? section("Operations in progress", el("ul", {id: "operations"},
                         ...ops.map((op) => el("li", {"data-operation": op.id}, operationLine(op),
                           op.progress ? el("div", {class: "progress", "data-wave": op.progress.wave,
                                                    "data-waves": op.progress.waves},
                                            el("progress", {max: op.progress.total, value: op.progress.converged}),
                                            " " + progressText(op.progress)) : null)))) : null,
    section("Services", servicesTable(s)),
    section("Pending changes", (s.out_of_sync || []).length
      ? el("ul", {id: "pending"}, ...s.out_of_sync.map((c) => el("li", {}, el("code", {}, c))))
      : el("p", {id: "pending", class: "empty"}, "None.")),
    section("History", historyTable(s)));
  if (operationShown && operationShown.stack === name) showOperation(operationShown.last);
}

// ---- actions

function confirmDialog(text) {
  const d = $("confirm");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    const done = (ok) => {
      $("confirm-yes").onclick = $("confirm-no").onclick = d.oncancel = null;
      d.close();
      resolve(ok);
    };
    $("confirm-yes").onclick = () => done(true);
    $("confirm-no").onclick = () => done(false);
    d.oncancel = () => done(false);
    d.showModal();
  });
}

async function act(question, fn) {
  if (!(await confirmDialog(question))) return;
  try {
    await fn();
  } catch (e) {
    setStatus(e.message, "error");
    if (e.status === 401) showTokenForm(true);
  }
}

function showOperation(op) {
  const out = $("operation");
  if (!out || !op) return;
  out.textContent = operationLine(op);
  out.className = op.state;
}

async function followOperation(id, stack) {
  operationShown = {id, stack, last: {id, state: "pending"}};
  showOperation(operationShown.last);
  for (;;) {
    const op = await api("GET", "/api/v1/operations/" + encodeURIComponent(id));
    if (!operationShown || operationShown.id !== id) return;
    operationShown.last = op;
    showOperation(op);
    if (op.state === "succeeded" || op.state === "failed") {
      setStatus("Operation " + id + " " + op.state, op.state === "succeeded" ? "ok" : "error");
      refresh();
      return;
    }
    await new Promise((r) => setTimeout(r, OPERATION_POLL_MS));
  }
}

// ---- routing and refresh

function route() {
  const m = /^#\/stack\/(.+)$/.exec(location.hash);
  return m ? {stack: decodeURIComponent(m[1])} : {};
}

async function refresh() {
  clearTimeout(refreshTimer);
  const r = route();
  if ($("confirm").open || (revisionInput && document.activeElement === revisionInput)) {
    refreshTimer = setTimeout(refresh, REFRESH_MS);  // do not pull the page from under the user
    return;
  }
  try {
    if (r.stack) await renderStack(r.stack); else await renderList();
    showTokenForm(false);
    if ($("status").className !== "error" || !$("status").textContent) setStatus("updated " + new Date().toLocaleTimeString());
  } catch (e) {
    if (e.status === 401) {
      show(el("p", {id: "need-token", class: "hint"},
              "This dashboard needs the API token of stackctld (http.api_token_file)."));
      showTokenForm(true);
      setStatus(token() ? "The token was refused." : "Token required.", "error");
      return;  // nothing to poll without a token
    }
    setStatus(e.message, "error");
  }
  refreshTimer = setTimeout(refresh, REFRESH_MS);
}

function init() {
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token-input").value.trim();
    $("token-input").value = "";
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    setStatus("");
    refresh();
  });
  $("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    operationShown = null;
    refresh();
  });
  window.addEventListener("hashchange", () => { operationShown = null; setStatus(""); refresh(); });
  refresh();
}

init();
