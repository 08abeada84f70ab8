// The API client: the bearer token (session storage only), fetch with problem+json errors, and live
// streams that reconnect by themselves with a fresh ticket.

const TOKEN_KEY = "workflowd.token";
const BASE = "/api/v1";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

// A sign-in link carries the token in the fragment (#token=…), which browsers never send to a server.
// Keep it in session storage and drop it from the address bar and the history at once.
export function takeTokenFromFragment() {
  const match = /^#token=([A-Za-z0-9._-]+)$/.exec(location.hash);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, match[1]);
  history.replaceState(null, "", location.pathname + location.search);
}

export function signIn(value) {
  sessionStorage.setItem(TOKEN_KEY, value.trim().replace(/^Bearer\s+/i, ""));
}

// Who the token says the caller is (for display only: the server verifies it on every request).
export function caller() {
  try {
    const part = (token() || "").split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part));
    const roles = Array.isArray(claims.roles) ? claims.roles : [];
    return { userId: claims.sub, name: claims.name || null, roles, expires: claims.exp ? new Date(claims.exp * 1000) : null };
  } catch {
    return null;
  }
}

// A refused request: `problem` is the server's problem+json (or one made up for a network failure).
export class ApiError extends Error {
  constructor(status, problem, headers) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.retryAfter = headers ? headers.get("Retry-After") : null;
  }
}

export async function request(method, path, { body, ifMatch, idempotencyKey } = {}) {
  const headers = { Accept: "application/json" };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ifMatch !== undefined) headers["If-Match"] = `"${ifMatch}"`;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let response;
  try {
    response = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { title: "No connection", detail: "The server could not be reached. Check the connection and try again." });
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, data && typeof data === "object" ? data : { title: response.statusText, detail: text.slice(0, 300) }, response.headers);
  }
  return data;
}

export const get = (path) => request("GET", path);
export const post = (path, body, options = {}) => request("POST", path, { ...options, body });

// Whether the server has a route (HEAD answers at once, even for a stream).
export async function exists(path) {
  try {
    const response = await fetch(BASE + path, { method: "HEAD", headers: { Authorization: `Bearer ${token()}` } });
    return response.status !== 404;
  } catch {
    return false;
  }
}

// Server-Sent Events from `path`. EventSource cannot send a header, so each connection gets a fresh
// short-lived ticket; after any error the stream is closed and reopened (with backoff), from the last event
// seen (`?after=`) unless `resume` is false, because a reconnect with the old ticket would be refused once
// it expired. onState receives "connecting", "live" or "down".
export function stream(path, { after = null, resume = true, onEvent, onState }) {
  let source = null;
  let lastId = after;
  let stopped = false;
  let delay = 1000;
  let timer = null;

  async function open() {
    if (stopped) return;
    onState("connecting");
    let ticket;
    try {
      ticket = (await post("/stream-tickets")).ticket;
    } catch {
      return retry();
    }
    if (stopped) return;
    const query = new URLSearchParams({ ticket });
    if (resume && lastId !== null) query.set("after", lastId);
    source = new EventSource(`${BASE}${path}?${query}`);
    source.onopen = () => {
      delay = 1000;
      onState("live");
    };
    source.onerror = () => {
      source.close();
      retry();
    };
    source.onmessage = handle;
    for (const type of ["InstanceCreated", "StatusChanged", "StepCompleted", "InputProvided", "ApprovalGranted", "ApprovalRejected", "DeadlinePassed", "RetriedAs"]) {
      source.addEventListener(type, handle);
    }
  }

  function handle(message) {
    if (message.lastEventId) lastId = message.lastEventId;
    try {
      onEvent(JSON.parse(message.data));
    } catch {
      // not an event document: ignore it
    }
  }

  function retry() {
    if (stopped) return;
    onState("down");
    clearTimeout(timer);
    timer = setTimeout(open, delay);
    delay = Math.min(delay * 2, 15000);
  }

  open();
  return {
    close() {
      stopped = true;
      clearTimeout(timer);
      if (source) source.close();
    },
  };
}
