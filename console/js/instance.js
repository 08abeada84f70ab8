// Instance: status, step progress, what it awaits (with a form generated from the input schema), the
// actions the server lists in allowedActions (and no others), its data and its history; live.
import { ApiError, get, post, stream } from "./api.js";
import { schemaForm } from "./schemaform.js";
import { clear, el, field, json, problemBox, setLive, shortId, statusBadge, statusWords, time, who } from "./ui.js";

const id = new URLSearchParams(location.search).get("id") || "";
const state = { instance: null, definition: null, events: [], shownVersion: null };
const sections = {};
const announcer = el("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });

export async function show(main) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) {
    clear(main, el("h1", {}, "Instance"), problemBox({ problem: { title: "No such instance", detail: "The link does not name an instance." } }));
    return;
  }
  clear(main, el("h1", {}, "Instance"), el("p", {}, "Loading…"));
  try {
    state.instance = await get(`/workflows/${id}`);
    state.definition = await get(`/workflow-definitions/${encodeURIComponent(state.instance.workflowDefinitionId)}`);
    state.events = await allEvents();
  } catch (error) {
    clear(main, el("h1", {}, "Instance"), problemBox(error));
    return;
  }
  for (const name of ["summary", "progress", "awaiting", "actions", "data", "history"]) sections[name] = el("section", { class: `card ${name}` });
  clear(main, el("h1", { id: "title", tabindex: -1 }), announcer, sections.summary, sections.awaiting, sections.actions, sections.progress, sections.data, sections.history);
  render();
  const lastId = state.events.length ? state.events[state.events.length - 1].id : null;
  stream(`/workflows/${id}/events/stream`, { after: lastId, onEvent: eventArrived, onState: setLive });
}

async function allEvents() {
  const events = [];
  let cursor = null;
  do {
    const page = await get(`/workflows/${id}/events?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    events.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor && events.length < 1000);
  return events;
}

// Several events of one change arrive together: one fetch of the instance for all of them. An event that
// arrives while a fetch is under way asks for one more after it: that fetch may have left before the change
// was committed, and the event's own change would otherwise never be shown.
let refreshing = false;
let refreshAgain = false;
async function eventArrived(event) {
  if (state.events.some((e) => e.id === event.id)) return;
  state.events.push(event);
  renderHistory();
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  try {
    do {
      refreshAgain = false;
      await new Promise((resolve) => setTimeout(resolve, 50));
      await refreshInstance();
    } while (refreshAgain);
  } finally {
    refreshing = false;
  }
}

async function refreshInstance() {
  try {
    const fresh = await get(`/workflows/${id}`);
    if (fresh.version > state.instance.version) {
      adopt(fresh);
      announcer.textContent = `Updated: ${describe(state.events[state.events.length - 1])} — now ${statusWords(fresh.status)}.`;
    }
  } catch {
    // the next event or a reload will try again
  }
}

async function reload() {
  adopt(await get(`/workflows/${id}`));
}

// Shows `fresh` unless the page already shows a later version (answers may arrive out of order).
function adopt(fresh) {
  if (fresh.version < state.instance.version) return;
  state.instance = fresh;
  render();
}

function render() {
  const { instance, definition } = state;
  document.getElementById("title").textContent = `${definition.name} ${shortId(instance.id)}`;
  document.title = `${definition.name} ${shortId(instance.id)} · workflowd`;
  renderSummary();
  renderProgress();
  renderHistory();
  // Forms are rebuilt only when the instance changed, so a change elsewhere does not wipe what is typed.
  if (state.shownVersion !== instance.version) {
    state.shownVersion = instance.version;
    renderAwaiting();
    renderActions();
  }
  clear(sections.data, el("h2", {}, "Data"),
    el("details", {}, el("summary", {}, "Context (parameters)"), json(instance.context)),
    el("details", {}, el("summary", {}, "Step data (outputs)"), json(instance.stepData)));
}

function stepName(number) {
  const step = state.definition.steps[number - 1];
  return step ? step.name : `step ${number}`;
}

function renderSummary() {
  const i = state.instance;
  const rows = [
    ["Status", el("span", {}, statusBadge(i.status), " since ", time(i.statusChangedAt))],
    ["Step", i.currentStep === 0 ? "Not started" : `${i.currentStep} of ${i.totalSteps}: ${stepName(i.currentStep)}`],
    ["Owner", who(i.userId)],
    ["Created", time(i.createdAt)],
    ["Version", String(i.version)],
  ];
  if (i.attempt > 1 || i.retryOf) rows.push(["Attempt", el("span", {}, String(i.attempt), i.retryOf ? el("span", {}, " — retries ", el("a", { href: `?page=instance&id=${i.retryOf}` }, shortId(i.retryOf))) : null)]);
  if (i.retriedAs) rows.push(["Retried as", el("a", { href: `?page=instance&id=${i.retriedAs}` }, shortId(i.retriedAs))]);
  clear(sections.summary, el("h2", { class: "visually-hidden" }, "Summary"),
    el("dl", { class: "facts" }, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])));
}

function renderProgress() {
  const i = state.instance;
  const done = (index) => i.status === "Completed" || index < i.currentStep - 1;
  clear(sections.progress, el("h2", {}, "Steps"),
    el("ol", { class: "step-list" }, state.definition.steps.map((step, index) => {
      const current = index === i.currentStep - 1 && i.status !== "Completed";
      const mark = done(index) ? "done" : current ? "current" : "to do";
      return el("li", { class: `step step-${mark.replace(" ", "-")}`, "aria-current": current ? "step" : null },
        el("span", { class: "step-name" }, step.name),
        el("span", { class: "step-mark" }, ` (${mark}${step.approval ? ", approval gate" : ""})`));
    })));
}

function dueLine(awaiting) {
  if (!awaiting.dueAt) return null;
  const then = { Fail: "then it fails", Cancel: "then it is cancelled", Notify: "then it is marked overdue" }[awaiting.onTimeout] || "";
  return el("p", { class: awaiting.overdue ? "due overdue" : "due" },
    awaiting.overdue ? el("strong", { class: "badge-overdue" }, "Overdue") : null,
    awaiting.overdue ? " — was due " : "Due ", time(awaiting.dueAt), then ? ` (${then})` : "");
}

function renderAwaiting() {
  const i = state.instance;
  const a = i.awaiting;
  if (!a) {
    clear(sections.awaiting);
    sections.awaiting.hidden = true;
    return;
  }
  sections.awaiting.hidden = false;
  const heading = el("h2", {}, a.kind === "input" ? "Waiting for input" : "Waiting for approval");
  const prompt = el("p", { class: "prompt" }, a.prompt || "(no prompt given)");
  if (a.kind === "input") {
    const body = [heading, prompt, dueLine(a)];
    if (i.allowedActions.includes("provideInput")) body.push(inputForm(a));
    else body.push(el("p", { class: "muted" }, "Input comes from the instance's owner."));
    clear(sections.awaiting, body);
    return;
  }
  const decisions = a.decisions.length
    ? el("ul", { class: "decisions" }, a.decisions.map((d) => el("li", {}, `${d.decision === "approve" ? "Approved" : "Rejected"} by ${who(d.userId)} `, time(d.decidedAt))))
    : null;
  const facts = el("p", {}, `Approvals: ${a.approvalsGiven} of ${a.approvalsNeeded} given. `,
    a.onReject === "Fail" ? "A rejection fails the instance." : "A rejection sends the step back for rework.",
    a.approvers.allowSelfApproval ? "" : " The initiator cannot approve.");
  const body = [heading, prompt, facts, dueLine(a), decisions];
  if (a.approvers.userIds) body.push(el("p", { class: "muted" }, `Only these users may decide: ${a.approvers.userIds.map(who).join(", ")}.`));
  if (a.output) body.push(el("details", {}, el("summary", {}, "The step's output to approve"), json(a.output)));
  if (i.allowedActions.includes("approve") || i.allowedActions.includes("reject")) body.push(decisionForm());
  else body.push(el("p", { class: "muted" }, "An eligible Approver decides; this page updates when they do."));
  clear(sections.awaiting, body);
}

// Runs one action: the instance's version in If-Match, the answer shown, the page redrawn.
async function act(form, label, call, { onFieldErrors } = {}) {
  const message = form.querySelector(".form-message");
  clear(message);
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const result = await call(state.instance.version);
    if (result && result.id === id) {
      adopt(result);
      announcer.textContent = `${label}: done. Now ${statusWords(state.instance.status)}.`;
      const first = sections.actions.querySelector("button") || document.getElementById("title");
      if (first) first.focus();
    } else if (result && result.id) {
      location.href = `?page=instance&id=${encodeURIComponent(result.id)}`;
    }
  } catch (error) {
    buttons.forEach((b) => { b.disabled = false; });
    if (!(error instanceof ApiError)) return;  // a local error already shown at its field
    const left = onFieldErrors && error.problem.errors ? onFieldErrors(error.problem.errors) : null;
    clear(message, problemBox(error, { onReload: () => reload() }));
    if (left && left.length) message.append(el("ul", {}, left.map((m) => el("li", {}, m))));
    if (!onFieldErrors || !error.problem.errors) {
      const box = message.querySelector(".problem");
      box.setAttribute("tabindex", "-1");
      box.focus();
    }
  }
}

function actionForm(label, ...children) {
  return el("form", { class: "action", novalidate: true, "aria-label": label }, children, el("div", { class: "form-message" }));
}

function inputForm(awaiting) {
  const generated = schemaForm(awaiting.schema, "input");
  const form = actionForm("Provide input", generated.nodes, el("div", { class: "buttons" }, el("button", { type: "submit" }, "Send input")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    let data;
    try {
      data = generated.collect();
    } catch {
      return;
    }
    generated.showErrors({});
    act(form, "Input sent", (version) => post(`/workflows/${id}/input`, { data }, { ifMatch: version }),
      { onFieldErrors: (errors) => generated.showErrors(errors) });
  });
  return form;
}

function decisionForm() {
  const comment = el("textarea", { name: "comment", rows: 2, maxlength: 1000 });
  const allowed = state.instance.allowedActions;
  const form = actionForm("Decide",
    field("Comment", comment, { id: "decision-comment", hint: "optional; recorded in the history" }),
    el("div", { class: "buttons" },
      allowed.includes("approve") ? el("button", { type: "submit", value: "approve" }, "Approve") : null,
      allowed.includes("reject") ? el("button", { type: "submit", value: "reject", class: "danger" }, "Reject") : null));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = event.submitter.value;
    act(form, chosen === "approve" ? "Approved" : "Rejected",
      () => post(`/workflows/${id}/approvals`, { decision: chosen, comment: comment.value.trim() || null }));
  });
  return form;
}

function jsonField(label, name, hint) {
  const control = el("textarea", { name, rows: 3, class: "code", spellcheck: "false" });
  const node = field(label, control, { id: `${name}-field`, hint });
  node.value = () => {
    if (!control.value.trim()) return undefined;
    try {
      const value = JSON.parse(control.value);
      if (value && typeof value === "object" && !Array.isArray(value)) return value;
    } catch {
      // falls through to the error below
    }
    node.showError(["must be a JSON object, e.g. {\"notes\": \"…\"}"]);
    control.focus();
    throw new Error("invalid JSON");
  };
  return node;
}

function textField(label, name, hint, { multiline = false } = {}) {
  const control = multiline ? el("textarea", { name, rows: 2 }) : el("input", { type: "text", name, autocomplete: "off" });
  const node = field(label, control, { id: `${name}-field`, hint });
  node.value = () => control.value.trim() || null;
  return node;
}

const SIMPLE = {
  start: ["Running", "Start"],
  pause: ["Paused", "Pause"],
  resume: ["Running", "Resume"],
  complete: ["Completed", "Complete"],
};

function transition(to, extra = {}) {
  return (version) => post(`/workflows/${id}/transitions`, { to, ...extra }, { ifMatch: version });
}

function renderActions() {
  const i = state.instance;
  const allowed = new Set(i.allowedActions);
  const forms = [];
  const quick = Object.entries(SIMPLE).filter(([action]) => allowed.has(action));
  if (quick.length) {
    const form = actionForm("Change status", el("div", { class: "buttons" }, quick.map(([action, [, label]]) =>
      el("button", { type: "submit", value: action }, label))));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const [to, label] = SIMPLE[event.submitter.value];
      act(form, label, transition(to));
    });
    forms.push(form);
  }
  if (allowed.has("advance")) {
    const step = i.currentStep;
    const gate = state.definition.steps[step - 1]?.approval;
    const output = jsonField("Output of this step", "advance-output", "optional JSON object, stored under the step's id");
    const form = actionForm("Advance",
      el("h3", {}, gate ? `Submit step ${step} for approval` : `Complete step ${step}`),
      el("p", { class: "hint" }, stepName(step)), output,
      el("div", { class: "buttons" }, el("button", { type: "submit" }, gate ? "Advance to approval" : "Advance")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      let body;
      try { body = { output: output.value() }; } catch { return; }
      act(form, "Advanced", (version) => post(`/workflows/${id}/advance`, body.output ? body : undefined, { ifMatch: version }),
        { onFieldErrors: (errors) => { if (errors.output) output.showError(errors.output); return []; } });
    });
    forms.push(form);
  }
  if (allowed.has("requestInput")) forms.push(requestForm("input"));
  if (allowed.has("requestApproval")) forms.push(requestForm("approval"));
  if (allowed.has("override")) {
    const reason = textField("Reason", "override-reason", "optional; recorded in the history");
    const form = actionForm("Override", el("h3", {}, "Override the approval (Admin)"), reason,
      el("div", { class: "buttons" }, el("button", { type: "submit", class: "danger" }, "Continue without approvals")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(form, "Overridden", transition("Running", { override: true, reason: reason.value() }));
    });
    forms.push(form);
  }
  if (allowed.has("retry")) {
    const patch = jsonField("Context changes", "retry-patch", "optional JSON merge patch: members replace, null removes");
    const fromStep = el("input", { type: "number", name: "fromStep", min: 1, max: i.totalSteps, step: 1 });
    const reason = textField("Reason", "retry-reason", "optional");
    const form = actionForm("Retry", el("h3", {}, "Retry as a new instance"), patch,
      field("Start at step", fromStep, { id: "retry-from", hint: "optional; default: the step that failed" }), reason,
      el("div", { class: "buttons" }, el("button", { type: "submit" }, "Retry")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = { reason: reason.value() };
      try { const value = patch.value(); if (value) body.contextPatch = value; } catch { return; }
      if (fromStep.value) body.fromStep = Number(fromStep.value);
      act(form, "Retried", () => post(`/workflows/${id}/retry`, body));
    });
    forms.push(form);
  }
  for (const [action, to, label, hint] of [
    ["cancel", "Cancelled", "Cancel instance", "optional"],
    ["fail", "Failed", "Mark as failed", "why it failed; recorded in the history"],
  ]) {
    if (!allowed.has(action)) continue;
    const reason = textField("Reason", `${action}-reason`, hint);
    const form = actionForm(label, el("h3", {}, label), reason,
      el("div", { class: "buttons" }, el("button", { type: "submit", class: "danger" }, label)));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(form, label, transition(to, { reason: reason.value() }));
    });
    forms.push(form);
  }
  clear(sections.actions, el("h2", {}, "Actions"),
    forms.length ? forms : el("p", { class: "muted" }, i.awaiting ? "Nothing for you to do here now besides what is awaited above." : "Nothing you can do with this instance now."));
  sections.actions.hidden = forms.length === 0 && Boolean(i.awaiting);
}

function requestForm(kind) {
  const prompt = textField("Prompt", `request-${kind}-prompt`, "what the person is asked", { multiline: true });
  const extra = kind === "input"
    ? jsonField("Input schema", "request-input-schema", "optional JSON Schema the answer must match")
    : field("Approvals needed", el("input", { type: "number", name: "count", min: 1, max: 5, step: 1, value: 1 }), { id: "request-approval-count" });
  const label = kind === "input" ? "Ask for input" : "Ask for approval";
  const form = actionForm(label, el("h3", {}, label), prompt, extra,
    el("div", { class: "buttons" }, el("button", { type: "submit" }, label)));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const awaiting = { prompt: prompt.value() || "" };
    try {
      if (kind === "input") { const schema = extra.value(); if (schema) awaiting.schema = schema; }
      else awaiting.approvers = { count: Number(extra.querySelector("input").value || 1) };
    } catch { return; }
    act(form, label, transition(kind === "input" ? "WaitingForInput" : "WaitingForApproval", { awaiting }),
      { onFieldErrors: (errors) => { if (errors["awaiting.prompt"]) prompt.showError(errors["awaiting.prompt"]); return []; } });
  });
  return form;
}

function describe(event) {
  switch (event.type) {
    case "InstanceCreated": return event.data && event.data.retryOf ? `Created as attempt ${event.data.attempt}` : "Created";
    case "StatusChanged": return `${statusWords(event.fromStatus)} → ${statusWords(event.toStatus)}`;
    case "StepCompleted": return `Step ${event.step} completed: ${stepName(event.step)}`;
    case "InputProvided": return `Input provided on step ${event.step}`;
    case "ApprovalGranted": return `Approved${event.data ? ` (${event.data.approvalsGiven} of ${event.data.approvalsNeeded})` : ""}`;
    case "ApprovalRejected": return "Rejected";
    case "DeadlinePassed": return "Deadline passed";
    case "RetriedAs": return "Retried as a new instance";
    default: return event.type;
  }
}

function renderHistory() {
  const items = [...state.events].reverse().map((event) => {
    const hasData = event.data && Object.keys(event.data).length > 0;
    return el("li", { class: `event event-${event.type}` },
      el("p", { class: "event-title" }, describe(event)),
      el("p", { class: "event-meta" }, `by ${event.userId ? who(event.userId) : event.actor || "workflowd"} · `, time(event.occurredAt)),
      event.reason ? el("p", { class: "event-reason" }, `${event.type.startsWith("Approval") ? "Comment" : "Reason"}: `, el("q", {}, event.reason)) : null,
      hasData ? el("details", {}, el("summary", {}, "Data"), json(event.data)) : null);
  });
  clear(sections.history, el("h2", {}, "History"), el("ol", { class: "timeline", reversed: true }, items));
}

