// dmg_bmi config builder: renders the server's form schema with json-editor, sends every change to the
// server for checking (the config definitions are the only judge), shows each problem beside its field and
// in the list, previews the YAML, and saves it. The page holds no rules of its own.
"use strict";

const token = document.querySelector('meta[name="dmg-token"]').content;
const $ = (id) => document.getElementById(id);
let editor = null;
let kind = "train";
let serverProblems = [];   // [{path, key, message}] of the last check
let checkTimer = null;
let checkSeq = 0;

// The server's problems, shown by json-editor beside the field whose schema path they name.
JSONEditor.defaults.custom_validators.push(function (schema, value, path) {
  return serverProblems.filter((p) => p.path === path)
    .map((p) => ({ path: path, property: "server", message: p.message }));
});

// Only the server judges: json-editor's own schema checks would word the same problems differently. The
// form's top validator (the one over the whole schema) keeps only the server's problems; the validators a
// type switcher (`multiple` editor) uses to pick a value's type are left whole.
const validateAll = JSONEditor.Validator.prototype.validate;
JSONEditor.Validator.prototype.validate = function (value) {
  const errors = validateAll.call(this, value);
  return this.schema === this.jsoneditor.schema ? errors.filter((e) => e.property === "server") : errors;
};

// Numbers are sent as typed: json-editor would strip the characters it does not expect ("0,01" -> 1,
// "365.5" in an integer field -> 3655). A text that reads as a number is sent as that number, any other
// text as text, so the server names it.
const NUMBER = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;
for (const name of ["number", "integer"]) {
  const proto = JSONEditor.defaults.editors[name].prototype;
  proto.sanitize = (value) => value;
  proto.getValue = function () {
    if (!this.dependenciesFulfilled || this.value === "" || this.value == null) return undefined;
    return NUMBER.test(String(this.value)) ? Number(this.value) : String(this.value);
  };
}

// A menu (a choice of values, true/false) offers no blank entry: json-editor's blank wrote the text
// "undefined" (or true); a key is left out with its section's "Object Properties" instead.
JSONEditor.defaults.editors.select.prototype.isRequired = () => true;

// json-editor's info icon is the glyph U+24D8, which many fonts lack: mark it so the stylesheet draws it.
const theme = JSONEditor.defaults.themes.html.prototype;
const infoButton = theme.getInfoButton;
theme.getInfoButton = function (text) {
  const icon = infoButton.call(this, text);
  icon.classList.add("info");
  return icon;
};

async function api(url, body) {
  const init = body === undefined ? {} : {
    method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "X-Dmg-Token": token },
  };
  try {
    const response = await fetch(url, init);
    return { status: response.status, data: await response.json() };
  } catch (err) {
    return { status: 0, data: { message: "no answer from the builder's server (" + err + "); is "
      + "`dmg-bmi config-builder` still running?" } };
  }
}

function setStatus(text, cls) {
  $("status").textContent = text;
  $("status").className = cls || "";
}

async function openConfig(newKind, config, source) {
  kind = newKind;
  $("kind").value = kind;
  fillTemplates(kind);
  const { data: schema } = await api("/api/schema?kind=" + kind);
  if (editor) editor.destroy();
  serverProblems = [];
  editor = new JSONEditor($("form"), {
    schema: schema, startval: config, theme: "html", iconlib: null,
    display_required_only: true, show_errors: "always", disable_edit_json: true,
    disable_array_reorder: true, prompt_before_delete: false, keep_oneof_values: false,
  });
  editor.on("ready", () => { document.body.dataset.ready = kind; check(); });
  editor.on("change", scheduleCheck);
  $("source").textContent = source ? "from " + source : "";
  if (source && source.startsWith("template ")) $("template").value = source.slice(9);
  setStatus("");
}

function scheduleCheck() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(check, 250);
}

async function check() {
  if (!editor || !editor.ready) return;
  const seq = ++checkSeq;
  const body = { kind: kind, config: editor.getValue(), path: $("save-path").value };
  const { status, data } = await api("/api/check", body);
  if (seq !== checkSeq) return;  // a newer change is being checked
  if (status !== 200) {  // never leave an old "valid" standing
    setStatus("not checked: " + data.message, "error");
    $("problem-count").textContent = "?";
    $("problem-count").className = "count";
    return;
  }
  showProblems(data.problems || []);
  $("yaml").textContent = data.yaml || "";
  document.body.dataset.checked = String(seq);
}

function showErrorsBeside() {
  // validate() with no value gives json-editor's cached result: pass the value to check it anew.
  editor.validation_results = editor.validate(editor.getValue());
  editor.root.showValidationErrors(editor.validation_results);
  addMissingHelp();
  // json-editor shows no message on a section (data.train: end before start) or on the whole config:
  // such a problem goes at the top of its section, under the section's title.
  document.querySelectorAll("#form .section-error").forEach((e) => e.remove());
  for (const p of serverProblems) {
    const field = document.querySelector('#form [data-schemapath="' + p.path + '"]');
    if (!field || field.textContent.includes(p.message)) continue;  // shown already
    const note = document.createElement("div");
    note.className = "errmsg section-error";
    note.textContent = p.message;
    const title = field.querySelector("h3, label");
    if (title) title.after(note); else field.prepend(note);
  }
}

function addMissingHelp() {
  // json-editor gives no info mark to a field that switches between types (value or null; text or list):
  // add the field's help to its label.
  for (const field of document.querySelectorAll("#form [data-schemapath]")) {
    const label = field.querySelector(":scope > label");
    if (!label || label.querySelector(".info")) continue;
    const sub = editor.getEditor(field.dataset.schemapath);
    const text = sub && sub.schema.options && sub.schema.options.infoText;
    if (text) label.appendChild(editor.theme.getInfoButton(text));
  }
}

function showProblems(problems) {
  // The server's problems in the list, on the badge, and beside their fields.
  serverProblems = problems;
  const list = $("problems");
  list.replaceChildren();
  const count = $("problem-count");
  for (const p of serverProblems) {
    const item = document.createElement("li");
    item.textContent = p.message;
    item.addEventListener("click", () => {
      const field = document.querySelector('[data-schemapath="' + p.path + '"]');
      if (field) field.scrollIntoView({ block: "center" });
    });
    list.appendChild(item);
  }
  count.textContent = serverProblems.length ? String(serverProblems.length) : "valid";
  count.className = serverProblems.length ? "count" : "count ok";
  showErrorsBeside();
}

function fillTemplates(listKind) {
  // The templates of the kind chosen in the menu; the form keeps its own kind until one is started.
  const select = $("template");
  select.replaceChildren();
  for (const name of state.templates[listKind]) {
    const option = document.createElement("option");
    option.value = option.textContent = name;
    select.appendChild(option);
  }
}

async function loadTemplate() {
  const newKind = $("kind").value;
  const name = $("template").value;
  const { status, data } = await api("/api/template?kind=" + newKind + "&name=" + encodeURIComponent(name));
  if (status !== 200) return setStatus(data.message, "error");
  await openConfig(newKind, data.config, "template " + name);
}

async function save(overwrite) {
  clearTimeout(checkTimer);
  const body = { kind: kind, config: editor.getValue(), path: $("save-path").value, overwrite: !!overwrite };
  const { status, data } = await api("/api/save", body);
  if (status === 409) {
    if (window.confirm(data.message)) return save(true);
    return setStatus("not saved: " + data.exists + " exists", "error");
  }
  if (data.problems) showProblems(data.problems);
  setStatus(data.message || "", status === 200 ? "ok" : "error");
}

let state = null;
async function main() {
  state = (await api("/api/state")).data;
  const select = $("kind");
  for (const [name, title] of Object.entries(state.kinds)) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = title;
    select.appendChild(option);
  }
  select.addEventListener("change", () => fillTemplates(select.value));
  $("load-template").addEventListener("click", loadTemplate);
  $("save").addEventListener("click", () => save(false));
  $("save-path").addEventListener("change", scheduleCheck);  // relative paths are taken from its folder
  // A key added or removed in a section's "Object Properties" box changes the config without a change
  // event from json-editor: check again after any click in the form.
  $("form").addEventListener("click", scheduleCheck);
  $("save-path").value = state.start.save_path;
  if (!state.licence) $("licence").removeAttribute("href");
  await openConfig(state.start.kind, state.start.config, state.start.source);
}
main();
