// One page, four views: `?page=` picks the module (the Workflows list when absent), so every view is a
// plain URL to bookmark or share, and nginx serves a single HTML file.
import { page } from "./ui.js";

const VIEWS = {
  workflows: ["Workflows", () => import("./workflows.js")],
  new: ["New workflow", () => import("./new.js")],
  instance: ["Instance", () => import("./instance.js")],
  inbox: ["Inbox", () => import("./inbox.js")],
};

const name = new URLSearchParams(location.search).get("page") || "workflows";
const [title, load] = VIEWS[name] || VIEWS.workflows;
const main = page(title, name in VIEWS ? name : "workflows");
if (main) load().then((view) => view.show(main));
