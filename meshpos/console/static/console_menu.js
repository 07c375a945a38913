// The console's Menu, Staff, Settings and Audit sections: forms over the catalog API
// (meshpos/console/api_catalog.py). Every refusal of the API is shown next to the field it names.
// Money is entered in the currency's units (3.90) and sent in minor units (390), as the API takes it.
"use strict";
(() => {
  const TOKEN_KEY = "meshpos-console-token";
  let venue = null;
  let menu = null;

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k.startsWith("on")) el[k] = v;
      else if (v === true) el.setAttribute(k, "");
      else if (v !== false && v != null) el.setAttribute(k, v);
    }
    el.append(...children.filter((c) => c != null));
    return el;
  }

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }
  async function call(method, path, body) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    const data = response.headers.get("content-type") === "application/json" && text ? JSON.parse(text) : text;
    if (!response.ok) {
      const err = (data && data.error) || {};
      throw new ApiError(response.status, err.code || String(response.status), err.message || response.statusText);
    }
    return data;
  }
  const base = () => `/api/venues/${encodeURIComponent(venue)}`;

  // --- money -------------------------------------------------------------------------------------
  const currency = () => (menu && menu.settings.currency) || "";
  // as many decimals as the currency has (JPY 0, EUR 2, KWD 3): console.js reads them from Intl
  const digits = () => window.meshposConsole.currencyDigits(currency());
  const units = (minor) => (minor / 10 ** digits()).toFixed(digits());
  const money = (minor) => `${units(minor)} ${currency()}`.trim();
  function minorUnits(text, field, allowNegative = false) {
    const t = String(text).trim().replace(",", ".");
    const d = digits();
    const shape = d ? new RegExp(`^-?\\d+(\\.\\d{1,${d}})?$`) : /^-?\d+$/;
    if (!shape.test(t) || (!allowNegative && t.startsWith("-"))) {
      const like = units(390);
      throw new FieldError(field, `enter an amount like ${like}${allowNegative ? ` or -${units(50)}` : ""}`);
    }
    return Math.round(parseFloat(t) * 10 ** d);
  }
  class FieldError extends Error { constructor(field, message) { super(message); this.field = field; } }

  // --- forms -------------------------------------------------------------------------------------
  function clearErrors(form) {
    $$(".field-error", form).forEach((e) => e.remove());
    $$("[aria-invalid]", form).forEach((e) => e.removeAttribute("aria-invalid"));
    const status = $(".form-status", form);
    if (status) { status.textContent = ""; status.className = "form-status"; }
  }
  // The input a refusal is about: the API names the field ("field 'price' must be ..."), the CSV's
  // line and column, or the model's rule ("product id 'a/b': ..."); otherwise the form as a whole.
  function fieldFor(form, message) {
    const named = /(?:field|query parameter) '(\w+)'/.exec(message);
    if (named && form.elements[named[1]]) return form.elements[named[1]];
    for (const el of form.elements) {
      if (el.name && el.type !== "submit" && new RegExp(`\\b${el.name.replace("_", "[ _]")}\\b`).test(message)) return el;
    }
    return null;
  }
  function showError(form, field, message) {
    const el = typeof field === "string" ? form.elements[field] : field;
    const note = h("small", { class: "field-error", role: "alert" }, message);
    const target = el && (el.length !== undefined && !el.tagName ? el[0] : el);
    if (target && target.closest) {
      target.setAttribute("aria-invalid", "true");
      (target.closest("label") || target).after(note);
    } else {
      $(".form-status", form).after(note);
    }
  }
  function form(id, fields, submit, label = "Save") {
    const f = h("form", { id, novalidate: true }, ...fields, h("button", { type: "submit" }, label),
      h("span", { class: "form-status", role: "status" }));
    f.onsubmit = async (event) => {
      event.preventDefault();
      clearErrors(f);
      try {
        const done = await submit(f);
        await load();  // the sections are drawn again: say so on the new form
        const status = $(`#${id} .form-status`);
        if (status) {
          status.textContent = typeof done === "string" ? done : "saved";
          status.className = "form-status ok";
        }
      } catch (err) {
        if (err instanceof FieldError) showError(f, err.field, err.message);
        else if (err instanceof ApiError) showError(f, fieldFor(f, err.message), err.message);
        else showError(f, null, String(err));
      }
    };
    return f;
  }
  const input = (name, label, attrs = {}) => h("label", {}, `${label} `, h("input", { name, ...attrs }));
  const check = (name, label, checked = false) => h("label", {}, h("input", { name, type: "checkbox", checked }), ` ${label}`);
  const select = (name, label, options, attrs = {}) => h("label", {}, `${label} `,
    h("select", { name, ...attrs }, ...options.map(([v, t]) => h("option", { value: v }, t))));
  const checks = (name, values, chosen = []) => h("fieldset", { name },
    h("legend", {}, name.replace("_", " ")),
    ...values.map((v) => h("label", {}, h("input", { type: "checkbox", name, value: v, checked: chosen.includes(v) }), ` ${v} `)));
  const chosen = (f, name) => $$(`input[name="${name}"]:checked`, f).map((e) => e.value);
  const val = (f, name) => f.elements[name].value.trim();
  function table(id, head, rows) {
    return h("table", { id }, h("thead", {}, h("tr", {}, ...head.map((t) => h("th", {}, t)))),
      h("tbody", {}, ...rows.map((cells) => h("tr", {}, ...cells.map((c) => h("td", {}, c))))));
  }
  function remove(kind, id) {
    return h("button", {
      type: "button", class: "danger", "data-delete": `${kind}/${id}`,
      onclick: async (event) => {
        try { await call("DELETE", `${base()}/${kind}/${encodeURIComponent(id)}`); await load(); }
        catch (err) { event.target.after(h("small", { class: "field-error", role: "alert" }, err.message)); }
      },
    }, "delete");
  }
  function fill(f, values) {
    for (const [k, v] of Object.entries(values)) {
      const el = f.elements[k];
      if (!el) continue;
      if (el.type === "checkbox") el.checked = Boolean(v);
      else if (el.tagName) el.value = v;
      else $$(`input[name="${k}"]`, f).forEach((c) => { c.checked = v.includes(c.value); });
    }
    f.scrollIntoView({ block: "nearest" });
  }
  const edit = (formId, values) => h("button", { type: "button", onclick: () => fill($(`#${formId}`), values) }, "edit");

  // --- Menu ---------------------------------------------------------------------------------------
  function drawMenu() {
    const taxes = menu.taxes, groups = menu.modifier_groups;
    // categories products name without a category record (menus made before categories were records)
    const known = new Set(menu.categories.map((c) => c.id));
    const implicit = [...new Set(menu.products.map((p) => p.category))].filter((c) => c && !known.has(c));
    const cats = [...menu.categories, ...implicit.map((id) => ({ id, name: id, position: "", implicit: true }))];
    const catName = Object.fromEntries(cats.map((c) => [c.id, c.name]));
    const modifiersText = (g) => g.modifiers.map((m) => `${m.id}, ${m.name}, ${units(m.price_delta)}`).join("\n");
    $("#menu-body").replaceChildren(
      h("h3", {}, "Categories"),
      table("categories", ["id", "name", "position", ""], cats.map((c) => [c.id, c.name, String(c.position),
        c.implicit ? edit("category-form", { id: c.id, name: c.name, position: 0 })
          : h("span", {}, edit("category-form", c), remove("categories", c.id))])),
      form("category-form", [input("id", "id", { required: true }), input("name", "name", { required: true }),
        input("position", "position", { type: "number", min: 0, value: 0 })],
      (f) => call("POST", `${base()}/categories`, { id: val(f, "id"), name: val(f, "name"), position: Number(val(f, "position") || 0) }),
      "Save category"),

      h("h3", {}, "Products"),
      table("products", ["id", "name", "category", "price", "tax", "kitchen", "modifier groups", "on sale", "stop list", ""],
        menu.products.map((p) => [p.id, p.name, catName[p.category] || p.category, money(p.price), p.tax_id || "",
          p.kitchen, p.modifier_groups.join(", "), p.active ? "yes" : "no",
          h("button", { type: "button", "data-stop": p.id, onclick: () => stop(p.id, !p.stopped) }, p.stopped ? "stopped: resume" : "stop"),
          edit("product-form", { ...p, price: units(p.price), tax_id: p.tax_id || "" })])),
      form("product-form", [input("id", "id", { required: true }), input("name", "name", { required: true }),
        select("category", "category", [["", "(none)"], ...cats.map((c) => [c.id, c.name])]),
        input("price", `price (${currency()})`, { inputmode: "decimal", placeholder: units(390), required: true }),
        select("tax_id", "tax", [["", "(none)"], ...taxes.map((t) => [t.id, t.name])]),
        input("kitchen", "kitchen station", { placeholder: "e.g. bar, grill" }),
        checks("modifier_groups", groups.map((g) => g.id)), check("active", "on sale", true)],
      (f) => call("POST", `${base()}/products`, {
        id: val(f, "id"), name: val(f, "name"), price: minorUnits(val(f, "price"), "price"),
        category: val(f, "category"), tax_id: val(f, "tax_id") || null, kitchen: val(f, "kitchen"),
        modifier_groups: chosen(f, "modifier_groups"), active: f.elements.active.checked,
      }), "Save product"),

      h("h3", {}, "Modifier groups"),
      table("modifier-groups", ["id", "name", "choose", "modifiers", ""], groups.map((g) => [g.id, g.name,
        `${g.min_select} to ${g.max_select}`, g.modifiers.map((m) => `${m.name} (${money(m.price_delta)})`).join(", "),
        h("span", {}, edit("group-form", { ...g, modifiers: modifiersText(g) }), remove("modifier_groups", g.id))])),
      form("group-form", [input("id", "id", { required: true }), input("name", "name", { required: true }),
        input("min_select", "choose at least", { type: "number", min: 0, value: 0 }),
        input("max_select", "at most", { type: "number", min: 0, value: 1 }),
        h("label", {}, "modifiers, one a line: id, name, price change ",
          h("textarea", { name: "modifiers", rows: 3, placeholder: `oat, Oat milk, ${units(50)}` }))],
      (f) => call("POST", `${base()}/modifier_groups`, {
        id: val(f, "id"), name: val(f, "name"), min_select: Number(val(f, "min_select") || 0),
        max_select: Number(val(f, "max_select") || 0), modifiers: parseModifiers(val(f, "modifiers")),
      }), "Save modifier group"),

      h("h3", {}, "Discounts"),
      h("p", {}, "Order discounts on one order apply in the order the cashier gives them, each to what the ones before it left."),
      table("discounts", ["id", "name", "kind", "applies to", "value", "who may give it", ""], menu.discounts.map((d) => [
        d.id, d.name, d.kind, d.scope, d.kind === "percent" ? `${d.value / 100} %` : money(d.value),
        d.roles.join(", ") || "anyone with the discount right",
        h("span", {}, edit("discount-form", { ...d, value: d.kind === "percent" ? String(d.value / 100) : units(d.value) }),
          remove("discounts", d.id))])),
      form("discount-form", [input("id", "id", { required: true }), input("name", "name", { required: true }),
        select("kind", "kind", [["percent", "percent"], ["fixed", "fixed amount"]]),
        select("scope", "applies to", [["line", "one line"], ["order", "the whole order"]]),
        input("value", "value (% or amount)", { inputmode: "decimal", required: true }),
        checks("roles", menu.roles.map((r) => r.name))],
      (f) => {
        const kind = val(f, "kind");
        const value = kind === "percent" ? percent(val(f, "value"), "value") : minorUnits(val(f, "value"), "value");
        return call("POST", `${base()}/discounts`, { id: val(f, "id"), name: val(f, "name"), kind, scope: val(f, "scope"), value, roles: chosen(f, "roles") });
      }, "Save discount"),

      h("h3", {}, "Taxes"),
      table("taxes", ["id", "name", "rate", "in prices", ""], taxes.map((t) => [t.id, t.name, `${t.rate_bp / 100} %`,
        t.included ? "included" : "added", h("span", {}, edit("tax-form", { ...t, rate: String(t.rate_bp / 100) }), remove("taxes", t.id))])),
      form("tax-form", [input("id", "id", { required: true }), input("name", "name", { required: true }),
        input("rate", "rate (%)", { inputmode: "decimal", required: true }), check("included", "included in prices", true)],
      (f) => call("POST", `${base()}/taxes`, { id: val(f, "id"), name: val(f, "name"), rate_bp: percent(val(f, "rate"), "rate"), included: f.elements.included.checked }),
      "Save tax"),

      h("h3", {}, "Menu as CSV"),
      h("p", {}, "Columns: id, name, category, price (in cents), tax, kitchen, active (yes/no), modifier_groups (separated by ;). ",
        "An import is all or nothing: a bad line is named and nothing is imported."),
      h("button", { type: "button", id: "export-csv", onclick: exportCsv }, "Export CSV"),
      form("import-form", [h("label", {}, "CSV file ", h("input", { name: "file", type: "file", accept: ".csv,text/csv" }))],
        async (f) => {
          const file = f.elements.file.files[0];
          if (!file) throw new FieldError("file", "choose a CSV file");
          const lines = (await file.text()).replace(/^\uFEFF/, "").split(/\r\n|\r|\n/);  // (CR alone: old Mac spreadsheets)
          while (lines.length && !lines[lines.length - 1].trim()) lines.pop();
          const done = await call("POST", `${base()}/menu/import`, { lines });
          return `${done.products} products imported, ${done.categories_created} categories created`;
        }, "Import CSV"),

      h("h3", {}, "Copy the menu from another venue"),
      h("p", {}, "Its categories, taxes, modifier groups, products and discounts replace the ones with the same ids here; ",
        "staff, settings and the stop list stay this venue's own."),
      form("copy-form", [select("from_venue", "from", venues.filter((v) => v.id !== venue).map((v) => [v.id, v.name]))],
        async (f) => {
          const from = val(f, "from_venue");
          if (!from) throw new FieldError("from_venue", "this console has no other venue");
          const done = await call("POST", `${base()}/menu/copy`, { from_venue: from });
          return `${done.products} products and ${done.discounts} discounts copied`;
        }, "Copy menu"),
    );
  }
  function percent(text, field) {
    const t = String(text).trim().replace(",", ".");
    if (!/^\d+(\.\d{1,2})?$/.test(t) || parseFloat(t) > 100) throw new FieldError(field, "enter a percentage from 0 to 100, like 10 or 12.5");
    return Math.round(parseFloat(t) * 100);
  }
  function parseModifiers(text) {
    return text.split("\n").map((l) => l.trim()).filter(Boolean).map((line, i) => {
      const [id, name, delta = "0"] = line.split(",").map((s) => s.trim());
      if (!id || !name) throw new FieldError("modifiers", `line ${i + 1}: write id, name, price change`);
      return { id, name, price_delta: minorUnits(delta, "modifiers", true) };
    });
  }
  async function stop(productId, stopped) {
    await call("POST", `${base()}/stoplist`, { product_id: productId, stopped });
    await load();
  }
  async function exportCsv() {
    const text = await call("GET", `${base()}/menu.csv`);
    const link = h("a", { href: URL.createObjectURL(new Blob([text], { type: "text/csv" })), download: `menu-${venue}.csv` });
    link.click();
  }

  // --- Staff --------------------------------------------------------------------------------------
  function drawStaff() {
    $("#staff-body").replaceChildren(
      h("h3", {}, "Users"),
      table("users", ["id", "name", "role", "PIN", ""], menu.users.map((u) => [u.id, u.name, u.role, u.has_pin ? "set" : "none",
        h("span", {}, edit("user-form", { id: u.id, name: u.name, role: u.role, pin: "" }), remove("users", u.id))])),
      form("user-form", [input("id", "id", { required: true }), input("name", "name", { required: true }),
        select("role", "role", menu.roles.map((r) => [r.name, r.name])),
        input("pin", "PIN (4-8 digits; empty keeps it)", { inputmode: "numeric", autocomplete: "off", type: "password" })],
      (f) => {
        const pin = val(f, "pin");
        if (pin && !/^\d{4,8}$/.test(pin)) throw new FieldError("pin", "a PIN is 4 to 8 digits");
        return call("POST", `${base()}/users`, { id: val(f, "id"), name: val(f, "name"), role: val(f, "role"), pin });
      }, "Save user"),
      h("h3", {}, "Reset a PIN"),
      form("pin-form", [select("user", "user", menu.users.map((u) => [u.id, u.name])),
        input("pin", "new PIN", { inputmode: "numeric", autocomplete: "off", type: "password" })],
      (f) => {
        const pin = val(f, "pin");
        if (!/^\d{4,8}$/.test(pin)) throw new FieldError("pin", "a PIN is 4 to 8 digits");
        return call("POST", `${base()}/users/${encodeURIComponent(val(f, "user"))}/pin`, { pin });
      }, "Set PIN"),
      h("h3", {}, "Roles and rights"),
      table("roles", ["role", "rights", ""], menu.roles.map((r) => [r.name, r.rights.join(", "),
        h("span", {}, edit("role-form", r), remove("roles", r.name))])),
      form("role-form", [input("name", "role", { required: true }), checks("rights", menu.rights)],
        (f) => call("POST", `${base()}/roles`, { name: val(f, "name"), rights: chosen(f, "rights") }), "Save role"),
    );
  }

  // --- Settings -----------------------------------------------------------------------------------
  function drawSettings() {
    const s = menu.settings;
    const f = form("settings-form", [input("name", "venue name"), input("currency", "currency", { maxlength: 3, placeholder: "EUR" }),
      input("timezone", "time zone", { placeholder: "Europe/Paris" }),
      input("day_cutoff_hour", "business day starts at (hour)", { type: "number", min: 0, max: 23 }),
      h("label", {}, "receipt header ", h("textarea", { name: "receipt_header", rows: 2 })),
      h("label", {}, "receipt footer ", h("textarea", { name: "receipt_footer", rows: 2 })),
      check("blind_count", "blind cash count (a cashier closing a shift does not see the expected cash)")],
    async (form_) => {
      const hour = val(form_, "day_cutoff_hour");
      if (!/^\d{1,2}$/.test(hour) || Number(hour) > 23) throw new FieldError("day_cutoff_hour", "an hour from 0 to 23");
      const saved = await call("POST", `${base()}/settings`, {
        name: val(form_, "name"), currency: val(form_, "currency").toUpperCase(), timezone: val(form_, "timezone"),
        day_cutoff_hour: Number(hour), receipt_header: val(form_, "receipt_header"), receipt_footer: val(form_, "receipt_footer"),
        blind_count: form_.elements.blind_count.checked,
      });
      await window.meshposConsole.reloadVenue(); // the header's name and the reports' currency follow
      return saved;
    }, "Save settings");
    $("#settings-body").replaceChildren(f);
    fill(f, s);
  }

  // --- Audit --------------------------------------------------------------------------------------
  const AUDIT_PAGE = 100;
  async function drawAudit() {
    const entries = await call("GET", `${base()}/audit?limit=${AUDIT_PAGE}`);
    const summary = (d) => {
      const before = d.before, after = d.after;
      if (before && after && typeof before === "object" && typeof after === "object") {
        return Object.keys(after).filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
          .map((k) => `${k}: ${JSON.stringify(before[k])} → ${JSON.stringify(after[k])}`).join("; ") || "no change";
      }
      return JSON.stringify(after === undefined ? d : after);
    };
    const row = (e) => h("tr", {}, ...[window.meshposConsole.when(e.at_ms), e.who, e.action, e.subject, summary(e.detail)]
      .map((c) => h("td", {}, c)));
    const shown = table("audit", ["when", "who", "what", "subject", "change"], []);
    const body = $("tbody", shown);
    body.append(...entries.map(row));
    // older entries, a page at a time (the log keeps every change)
    const older = h("button", { type: "button", id: "audit-older", hidden: entries.length < AUDIT_PAGE }, "Older");
    let oldest = entries.length ? entries[entries.length - 1].seq : 0;
    older.onclick = async () => {
      const more = await call("GET", `${base()}/audit?limit=${AUDIT_PAGE}&before_seq=${oldest}`);
      body.append(...more.map(row));
      if (more.length) oldest = more[more.length - 1].seq;
      older.hidden = more.length < AUDIT_PAGE;
    };
    $("#audit-body").replaceChildren(shown, older);
  }

  // --- loading ------------------------------------------------------------------------------------
  let venues = [];
  async function load() {
    if (!venue) return;
    try {
      [menu, venues] = await Promise.all([call("GET", `${base()}/menu`), call("GET", "/api/chain")]);
      drawMenu(); drawStaff(); drawSettings(); await drawAudit();
      $("#menu-notice").hidden = true;
    } catch (err) {
      $("#menu-notice").hidden = false;
      $("#menu-notice").textContent = `cannot load the menu: ${err.message}`;
    }
  }
  // the venue is the one chosen in the header (console.js), followed when it changes; a shell may
  // also say it: document.dispatchEvent(new CustomEvent("meshpos:venue", { detail: venueId }))
  async function show(venueId) {
    if (venueId && venueId !== venue) { venue = venueId; await load(); }
  }
  document.addEventListener("meshpos:venue", (event) => show(event.detail));
  async function follow() {
    const shell = window.meshposConsole;  // console.js: the venue chosen in the header, once signed in
    if (shell && !shell.token) return;
    const chosenVenue = (shell && shell.venue && shell.venue.id)
      || (venue ? venue : (await call("GET", "/api/venues").catch(() => []))[0]);
    if (chosenVenue && chosenVenue !== venue) { venue = chosenVenue; await load(); }
  }
  window.meshposMenu = { load, show, venue: () => venue };
  follow();
  setInterval(follow, 1000);
})();
