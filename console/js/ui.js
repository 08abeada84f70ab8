// What every page shares: building elements (text only, never HTML from data), the header with sign-in
// and the live indicator, status badges, times and readable errors.
import { caller, signIn, signOut, takeTokenFromFragment, token } from "./api.js";

// el("a", { href: "…", class: "x" }, "text", child…): children are nodes or strings (set as text).
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

const STATUS_WORDS = {
  Created: "Created",
  Running: "Running",
  Paused: "Paused",
  WaitingForInput: "Waiting for input",
  WaitingForApproval: "Waiting for approval",
  Completed: "Completed",
  Failed: "Failed",
  Cancelled: "Cancelled",
};
export const STATUSES = Object.keys(STATUS_WORDS);

export function statusWords(status) {
  return STATUS_WORDS[status] || status;
}

// Colour and words together: the colour is never the only signal.
export function statusBadge(status) {
  return el("span", { class: `status status-${status}` }, statusWords(status));
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function time(iso) {
  if (!iso) return null;
  return el("time", { datetime: iso }, timeFormat.format(new Date(iso)));
}

export function shortId(id) {
  return id ? id.slice(0, 8) : "";
}

export function who(userId) {
  const me = caller();
  if (!userId) return "workflowd";
  return me && me.userId === userId ? "you" : `user ${shortId(userId)}`;
}

export function json(value) {
  return el("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

// A refusal as a person reads it: the server's detail, what to do for 412 and 503, and field errors
// (returned for the caller to place next to its fields).
export function problemBox(error, { onReload } = {}) {
  const problem = error.problem || { detail: String(error.message || error) };
  const box = el("div", { class: "problem", role: "alert" },
    el("p", { class: "problem-title" }, problem.title || "Something went wrong"),
    el("p", {}, problem.detail || ""));
  if (Array.isArray(problem.allowedTransitions)) {
    box.append(el("p", {}, problem.allowedTransitions.length
      ? `From ${statusWords(problem.currentStatus)} it can move to: ${problem.allowedTransitions.map(statusWords).join(", ")}.`
      : `${statusWords(problem.currentStatus)} is final: it cannot change any more.`));
  }
  if (error.status === 412) {
    box.append(el("p", {}, "Someone changed this meanwhile. Reload to see the current state, then try again."),
      el("button", { type: "button", onclick: onReload || (() => location.reload()) }, "Reload"));
  } else if (error.status === 503 || error.status === 502 || error.status === 504 || error.status === 429 || error.status === 0) {
    const after = error.retryAfter ? ` in ${error.retryAfter} seconds` : " in a moment";
    box.append(el("p", {}, `This is temporary: please retry${after}.`));
  } else if (error.status === 401) {
    box.append(el("p", {}, "Your sign-in is missing or has expired. "), el("a", { href: "./?signin" }, "Sign in again"));
  }
  if (problem.requestId) box.append(el("p", { class: "muted" }, `Request id: ${problem.requestId}`));
  return box;
}

let liveNode = null;

// state: "connecting" | "live" | "down" | "polling" | null (no live updates on this page)
export function setLive(state) {
  if (!liveNode) return;
  const words = {
    connecting: "Connecting to live updates…",
    live: "Live: updates appear as they happen",
    down: "Live updates disconnected — reconnecting…",
    polling: "Live feed unavailable — refreshing every 15 s",
  };
  liveNode.hidden = !state;
  liveNode.className = `live live-${state}`;
  liveNode.textContent = words[state] || "";
}

const PAGES = [
  ["workflows", "./", "Workflows"],
  ["new", "?page=new", "New"],
  ["inbox", "?page=inbox", "Inbox"],
];

// Builds the header and returns the <main> to fill, or null when the caller must sign in first (the
// sign-in form is shown instead).
export function page(title, current) {
  takeTokenFromFragment();
  document.title = `${title} · workflowd`;
  const header = document.getElementById("top");
  const main = document.getElementById("main");
  const me = caller();
  const nav = el("nav", { "aria-label": "Pages" },
    el("ul", {}, PAGES.map(([name, href, label]) =>
      el("li", {}, el("a", { href, "aria-current": name === current ? "page" : null }, label)))));
  liveNode = el("p", { class: "live", role: "status", "aria-live": "polite", hidden: true });
  const account = el("div", { class: "account" });
  if (token() && me) {
    account.append(el("span", {}, `Signed in as ${shortId(me.userId)} (${me.roles.join(", ") || "no role"})`),
      el("button", { type: "button", class: "link", onclick: () => { signOut(); location.href = "./"; } }, "Sign out"));
  }
  clear(header, el("a", { class: "brand", href: "./" }, "workflowd"), nav, account);
  header.after(liveNode);
  if (!token() || !me || new URLSearchParams(location.search).has("signin")) {
    showSignIn(main);
    return null;
  }
  return main;
}

function showSignIn(main) {
  const field = el("textarea", { id: "token", name: "token", rows: 4, autocomplete: "off", spellcheck: "false", required: true });
  const form = el("form", { class: "card" },
    el("h1", {}, "Sign in"),
    el("p", {}, "Paste an access token (a JWT) from your identity provider, or open a sign-in link. The token stays in this browser tab only."),
    el("label", { for: "token" }, "Access token"), field,
    el("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    signIn(field.value);
    location.href = "./";
  });
  clear(main, form);
}

// A labelled field: returns [label, control, error holder] wrapped in one block.
export function field(label, control, { hint, id } = {}) {
  const fieldId = id || control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = fieldId;
  const error = el("p", { class: "field-error", id: `${fieldId}-error`, hidden: true });
  const described = [];
  let hintNode = null;
  if (hint) {
    hintNode = el("p", { class: "hint", id: `${fieldId}-hint` }, hint);
    described.push(hintNode.id);
  }
  described.push(error.id);
  control.setAttribute("aria-describedby", described.join(" "));
  const wrapper = el("div", { class: "field" }, el("label", { for: fieldId }, label), hintNode, control, error);
  wrapper.showError = (messages) => {
    error.hidden = !messages;
    error.textContent = messages ? messages.join("; ") : "";
    control.setAttribute("aria-invalid", messages ? "true" : "false");
  };
  return wrapper;
}
