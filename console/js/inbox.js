// Inbox: the waits the caller can answer now (input on its own instances, approvals it may give), with
// due times; refreshed whenever any visible instance changes (the live feed), else every 15 s.
import { exists, get, stream } from "./api.js";
import { clear, el, problemBox, setLive, shortId, statusBadge, time, who } from "./ui.js";

const FEED = "/events/stream";
let list;
let names = {};

export async function show(main) {
  list = el("section", { "aria-labelledby": "tasks-heading" }, el("p", {}, "Loading…"));
  clear(main, el("h1", {}, "Inbox"), el("p", { class: "hint" }, "What waits on you: input for your instances and approvals you may give."), list);
  try {
    names = Object.fromEntries((await get("/workflow-definitions")).items.map((d) => [d.id, d.name]));
  } catch (error) {
    clear(list, problemBox(error));
    return;
  }
  await refresh();
  if (await exists(FEED)) {
    // Any event may change what waits on me; after a gap (reconnect) the list is fetched again anyway.
    stream(FEED, {
      resume: false,
      onEvent: scheduleRefresh,
      onState: (state) => {
        setLive(state);
        if (state === "live") scheduleRefresh();
      },
    });
  } else {
    setLive("polling");
    setInterval(refresh, 15000);
  }
}

let pending = null;
function scheduleRefresh() {
  // A change writes several events: one refetch for the burst.
  clearTimeout(pending);
  pending = setTimeout(refresh, 150);
}

// Refreshes may overlap (a burst of events while a fetch is under way): only the latest one shows its list,
// so an answer that left before a change cannot replace one that came after it.
let latestRefresh = 0;
async function refresh() {
  const mine = ++latestRefresh;
  const tasks = [];
  try {
    let cursor = null;
    do {
      const page = await get(`/tasks?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      tasks.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor && tasks.length < 500);
  } catch (error) {
    if (mine === latestRefresh) clear(list, el("h2", { id: "tasks-heading" }, "Tasks"), problemBox(error));
    return;
  }
  if (mine !== latestRefresh) return;
  const items = tasks.map((task) => {
    const i = task.instance;
    return el("li", { class: `task task-${task.kind}` },
      el("p", { class: "task-title" },
        el("a", { href: `?page=instance&id=${encodeURIComponent(i.id)}` }, `${task.kind === "input" ? "Input" : "Approval"}: ${names[i.workflowDefinitionId] || i.workflowDefinitionId} ${shortId(i.id)}`),
        " ", statusBadge(i.status)),
      el("p", { class: "prompt" }, task.prompt || "(no prompt given)"),
      el("p", { class: "task-meta" },
        task.kind === "approval" ? `${task.approvalsGiven} of ${task.approvalsNeeded} approvals · ` : "",
        `owner ${who(i.userId)} · step ${i.currentStep} of ${i.totalSteps} · waiting since `, time(task.waitingSince)),
      task.dueAt ? el("p", { class: task.overdue ? "due overdue" : "due" },
        task.overdue ? el("strong", { class: "badge-overdue" }, "Overdue") : null, task.overdue ? " — was due " : "Due ", time(task.dueAt)) : null);
  });
  clear(list, el("h2", { id: "tasks-heading" }, `Tasks (${tasks.length})`),
    items.length ? el("ul", { class: "tasks" }, items) : el("p", {}, "Nothing waits on you."));
}

