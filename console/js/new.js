// New: pick a definition from the catalogue, see its steps, give parameters, create the instance.
import { get, post } from "./api.js";
import { clear, el, field, problemBox } from "./ui.js";

export async function show(main) {
  clear(main, el("h1", {}, "New workflow"), el("p", {}, "Loading the catalogue…"));
  let definitions;
  try {
    definitions = (await get("/workflow-definitions")).items;
  } catch (error) {
    clear(main, el("h1", {}, "New workflow"), problemBox(error));
    return;
  }
  const wanted = new URLSearchParams(location.search).get("workflowId");
  const select = el("select", { name: "workflowId" },
    definitions.map((d) => el("option", { value: d.id, selected: d.id === wanted }, d.name)));
  const details = el("section", { class: "definition", "aria-live": "polite" });
  const describe = () => {
    const definition = definitions.find((d) => d.id === select.value);
    if (!definition) return clear(details);
    clear(details,
      el("p", {}, definition.description),
      el("h2", {}, `Steps (${definition.steps.length})`),
      el("ol", { class: "steps" }, definition.steps.map((step) => el("li", {}, step.name,
        step.approval ? el("span", { class: "gate" }, ` — needs ${step.approval.count} approval${step.approval.count > 1 ? "s" : ""}`) : null))));
  };
  select.addEventListener("change", describe);
  describe();

  const rows = el("div", { class: "parameters" });
  const addRow = (name = "", value = "") => {
    const index = rows.children.length + 1;
    const nameInput = el("input", { type: "text", name: "parameterName", value, autocomplete: "off" });
    nameInput.value = name;
    const valueInput = el("input", { type: "text", name: "parameterValue", autocomplete: "off" });
    valueInput.value = value;
    const row = el("fieldset", { class: "parameter" }, el("legend", {}, `Parameter ${index}`),
      field("Name", nameInput), field("Value", valueInput, { hint: "Text, or JSON such as 42, true or [\"a\"]" }),
      el("button", { type: "button", class: "secondary", onclick: () => row.remove() }, `Remove parameter ${index}`));
    rows.append(row);
    return nameInput;
  };
  addRow("projectName", "");
  const message = el("div");
  const form = el("form", { class: "card", novalidate: true },
    field("Workflow", select), details,
    el("h2", {}, "Parameters"),
    el("p", { class: "hint" }, "Stored as the instance's context. Leave a name empty to skip it."),
    rows,
    el("button", { type: "button", class: "secondary", onclick: () => addRow().focus() }, "Add parameter"),
    message,
    el("div", { class: "buttons" }, el("button", { type: "submit" }, "Create")));
  // One key per attempt: a retried submit after a lost answer does not create a second instance.
  let idempotencyKey = crypto.randomUUID();
  form.addEventListener("input", () => { idempotencyKey = crypto.randomUUID(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const parameters = {};
    for (const row of rows.querySelectorAll("fieldset")) {
      const [name, value] = row.querySelectorAll("input");
      if (!name.value.trim()) continue;
      parameters[name.value.trim()] = parseValue(value.value);
    }
    clear(message);
    try {
      const created = await post("/workflows", { workflowId: select.value, parameters }, { idempotencyKey });
      location.href = `?page=instance&id=${encodeURIComponent(created.id)}`;
    } catch (error) {
      clear(message, problemBox(error));
    }
  });
  clear(main, el("h1", {}, "New workflow"), form);
}

// "42" → 42, "true" → true, "[1]" → [1]; anything that is not JSON stays text.
function parseValue(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

