// Workflows: the caller's instances (an Admin's: everyone's), filtered by status and workflow through the
// URL's query (a plain GET form, so a filtered list is a link to share), a page at a time (keyset cursor).
import { get } from "./api.js";
import { STATUSES, clear, el, problemBox, shortId, statusBadge, statusWords, time, who } from "./ui.js";

const PAGE_SIZE = 20;

export async function show(main) {
  const params = new URLSearchParams(location.search);
  const status = params.get("status") || "";
  const workflowId = params.get("workflowId") || "";
  const cursor = params.get("cursor") || "";
  const heading = el("h1", {}, "Workflows");
  const results = el("section", { "aria-labelledby": "results-heading" }, el("p", {}, "Loading…"));
  clear(main, heading, filterForm(status, workflowId, []), results);

  let definitions = [];
  try {
    definitions = (await get("/workflow-definitions")).items;
    main.querySelector("form.filters").replaceWith(filterForm(status, workflowId, definitions));
  } catch (error) {
    clear(results, problemBox(error));
    return;
  }
  const names = Object.fromEntries(definitions.map((d) => [d.id, d.name]));
  const query = new URLSearchParams({ limit: PAGE_SIZE });
  if (status) query.set("status", status);
  if (workflowId) query.set("workflowId", workflowId);
  if (cursor) query.set("cursor", cursor);
  let listing;
  try {
    listing = await get(`/workflows?${query}`);
  } catch (error) {
    clear(results, el("h2", { id: "results-heading" }, "Instances"), problemBox(error));
    return;
  }
  const filtered = status || workflowId;
  const caption = [status ? statusWords(status) : null, workflowId ? names[workflowId] || workflowId : null].filter(Boolean).join(" · ");
  const rows = listing.items.map((item) => el("tr", {},
    el("td", { "data-label": "Workflow" }, el("span", {},
      el("a", { href: `?page=instance&id=${encodeURIComponent(item.id)}` }, names[item.workflowDefinitionId] || item.workflowDefinitionId),
      el("span", { class: "muted id" }, ` ${shortId(item.id)}`))),
    el("td", { "data-label": "Status" }, statusBadge(item.status)),
    el("td", { "data-label": "Step" }, item.currentStep === 0 ? "not started" : `${item.currentStep} of ${item.totalSteps}`),
    el("td", { "data-label": "Owner" }, who(item.userId)),
    el("td", { "data-label": "Changed" }, time(item.updatedAt))));
  const table = rows.length
    ? el("table", { class: "instances" },
      el("caption", { class: "visually-hidden" }, "Workflow instances"),
      el("thead", {}, el("tr", {}, ["Workflow", "Status", "Step", "Owner", "Changed"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows))
    : el("p", {}, filtered ? "No instances match these filters." : "No instances yet. ", filtered ? null : el("a", { href: "?page=new" }, "Start one."));
  const paging = el("nav", { class: "paging", "aria-label": "Pages of results" });
  if (cursor) paging.append(el("a", { href: linkWith(params, null) }, "First page"));
  if (listing.nextCursor) paging.append(el("a", { href: linkWith(params, listing.nextCursor), rel: "next" }, "Next page"));
  clear(results, el("h2", { id: "results-heading" }, caption ? `Instances: ${caption}` : "Instances"), table, paging);
}

function linkWith(params, cursor) {
  const next = new URLSearchParams(params);
  if (cursor) next.set("cursor", cursor);
  else next.delete("cursor");
  return `?${next}`;
}

function filterForm(status, workflowId, definitions) {
  const statusSelect = el("select", { id: "filter-status", name: "status" },
    el("option", { value: "" }, "Any status"),
    STATUSES.map((s) => el("option", { value: s, selected: s === status }, statusWords(s))));
  const workflowSelect = el("select", { id: "filter-workflow", name: "workflowId" },
    el("option", { value: "" }, "Any workflow"),
    definitions.map((d) => el("option", { value: d.id, selected: d.id === workflowId }, d.name)));
  if (workflowId && !definitions.some((d) => d.id === workflowId)) {
    workflowSelect.append(el("option", { value: workflowId, selected: true }, workflowId));
  }
  return el("form", { class: "filters", method: "get", action: "./" },
    el("div", { class: "field" }, el("label", { for: "filter-status" }, "Status"), statusSelect),
    el("div", { class: "field" }, el("label", { for: "filter-workflow" }, "Workflow"), workflowSelect),
    el("button", { type: "submit" }, "Filter"),
    status || workflowId ? el("a", { href: "./" }, "Clear filters") : null);
}

