// A form generated from an input wait's JSON Schema (the subset the server accepts: type, properties,
// required, enum, const, minLength, maxLength, minimum, maximum, items, title, description). The browser
// does not validate (novalidate): the server's answer, with an error per field, is the one source of truth.
import { el, field } from "./ui.js";

export function schemaForm(schema, idPrefix) {
  const properties = schema && typeof schema.properties === "object" && schema.properties;
  if (!properties || (schema.type && schema.type !== "object")) return rawForm(idPrefix);
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const fields = Object.entries(properties).map(([name, property]) => propertyField(name, property || {}, required.has(name), `${idPrefix}-${name}`));
  return {
    nodes: fields.map((f) => f.node),
    collect() {
      const data = {};
      for (const f of fields) {
        const value = f.read();
        if (value !== undefined) data[f.name] = value;
      }
      return data;
    },
    // errors: JSON Pointer into the input → messages. Returns the messages no field took.
    showErrors(errors) {
      const left = [];
      for (const f of fields) f.node.showError(null);
      for (const [pointer, messages] of Object.entries(errors || {})) {
        const name = pointer.split("/")[1]?.replace(/~1/g, "/").replace(/~0/g, "~");
        const target = fields.find((f) => f.name === name);
        if (target) target.node.showError(pointer.split("/").length > 2 ? messages.map((m) => `${pointer}: ${m}`) : messages);
        else left.push(...messages.map((m) => (pointer ? `${pointer}: ${m}` : m)));
      }
      const first = fields.find((f) => f.node.querySelector("[aria-invalid=true]"));
      if (first) first.node.querySelector("[aria-invalid=true]").focus();
      return left;
    },
  };
}

function typeOf(property) {
  const type = Array.isArray(property.type) ? property.type.find((t) => t !== "null") : property.type;
  if (type) return type;
  if (Array.isArray(property.enum)) return "enum";
  return "json";
}

function hintFor(property, required) {
  const parts = [];
  if (property.description) parts.push(property.description);
  if (property.minLength !== undefined && property.maxLength !== undefined) parts.push(`${property.minLength} to ${property.maxLength} characters`);
  else if (property.minLength !== undefined) parts.push(`at least ${property.minLength} characters`);
  else if (property.maxLength !== undefined) parts.push(`at most ${property.maxLength} characters`);
  if (property.minimum !== undefined) parts.push(`minimum ${property.minimum}`);
  if (property.maximum !== undefined) parts.push(`maximum ${property.maximum}`);
  if (!required) parts.push("optional");
  return parts.join(" · ") || null;
}

function propertyField(name, property, required, id) {
  const label = `${property.title || name}${required ? " (required)" : ""}`;
  const hint = hintFor(property, required);
  const type = typeOf(property);
  let control;
  let read;
  if (Array.isArray(property.enum)) {
    control = el("select", { name, "aria-required": required ? "true" : null },
      el("option", { value: "" }, "Choose…"),
      property.enum.map((value, i) => el("option", { value: String(i) }, typeof value === "string" ? value : JSON.stringify(value))));
    read = () => (control.value === "" ? undefined : property.enum[Number(control.value)]);
  } else if (type === "boolean") {
    control = el("select", { name, "aria-required": required ? "true" : null },
      el("option", { value: "" }, "Choose…"), el("option", { value: "true" }, "Yes"), el("option", { value: "false" }, "No"));
    read = () => (control.value === "" ? undefined : control.value === "true");
  } else if (type === "integer" || type === "number") {
    control = el("input", { type: "number", name, step: type === "integer" ? "1" : "any", min: property.minimum, max: property.maximum, "aria-required": required ? "true" : null });
    read = () => (control.value === "" ? undefined : Number(control.value));
  } else if (type === "string") {
    const long = property.maxLength === undefined || property.maxLength > 200;
    control = long ? el("textarea", { name, rows: 3 }) : el("input", { type: "text", name });
    if (required) control.setAttribute("aria-required", "true");
    read = () => (control.value === "" && !required ? undefined : control.value);
  } else if (type === "array" && property.items && ["string", "number", "integer"].includes(property.items.type)) {
    control = el("textarea", { name, rows: 3, "aria-required": required ? "true" : null });
    const numeric = property.items.type !== "string";
    read = () => {
      const lines = control.value.split("\n").map((l) => l.trim()).filter(Boolean);
      if (!lines.length && !required) return undefined;
      return numeric ? lines.map(Number) : lines;
    };
    return wrap(name, field(label, control, { id, hint: `${hint ? `${hint} · ` : ""}one per line` }), read);
  } else {
    control = el("textarea", { name, rows: 3, class: "code", spellcheck: "false", "aria-required": required ? "true" : null });
    read = () => parseOrText(control.value, required);
    return wrap(name, field(label, control, { id, hint: `${hint ? `${hint} · ` : ""}JSON` }), read);
  }
  return wrap(name, field(label, control, { id, hint }), read);
}

function wrap(name, node, read) {
  return { name, node, read };
}

function parseOrText(text, required) {
  if (!text.trim()) return required ? null : undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// Without a usable object schema: the input as a JSON object.
function rawForm(idPrefix) {
  const control = el("textarea", { name: "data", rows: 5, class: "code", spellcheck: "false" });
  const node = field("Input (a JSON object)", control, { id: `${idPrefix}-data`, hint: "For example {\"notes\": \"…\"}" });
  return {
    nodes: [node],
    collect() {
      const text = control.value.trim() || "{}";
      try {
        return JSON.parse(text);
      } catch {
        node.showError(["is not valid JSON"]);
        throw new Error("invalid JSON");
      }
    },
    showErrors(errors) {
      const messages = Object.entries(errors || {}).flatMap(([pointer, list]) => list.map((m) => (pointer ? `${pointer}: ${m}` : m)));
      node.showError(messages.length ? messages : null);
      if (messages.length) control.focus();
      return [];
    },
  };
}
