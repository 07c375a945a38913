// The Reports tab: receipts (search, pages, a receipt's detail), shifts (X and Z), sales, refunds and voids,
// stock (on hand, a product's movements, supplies and write-offs). Reads the console's JSON API
// (/api/venues/{venue}/reports/...) through the shell (console.js: window.meshposConsole), which signs in,
// picks the venue and shows this tab again every two seconds; every table exports CSV.
"use strict";
(() => {
  const shell = window.meshposConsole; // console.js: api, venue, money, onShow, element
  const PAGE = 50;
  const state = { report: "receipts", offset: 0, search: "", detail: null, product: null };
  const $ = (id) => document.getElementById(id);
  const base = () => `/api/venues/${encodeURIComponent(shell.venue.id)}/reports`;
  const call = (path, options) => shell.api(path, options);
  const money = (minor) => (minor == null ? "" : shell.money(minor));
  const when = (ms) => shell.when(ms);
  const td = (text, num) => shell.element("td", text == null ? "" : String(text), num ? { class: "num" } : {});
  // A table's rows. Rows one can click (a receipt, a product: `key` given) are kept by key and their cells'
  // text set in place: the shell shows the tab again every two seconds, and a row rebuilt between a click's
  // press and release loses the click (it needs both on one element). Gone rows leave first, so a kept
  // row moves only when the order changes (a moved element loses its press too).
  function fill(tableId, items, make, decorate, key) {
    const body = $(tableId).querySelector("tbody");
    const row = (item) => {
      const tr = document.createElement("tr");
      tr.append(...make(item));
      if (decorate) decorate(tr, item);
      return tr;
    };
    if (!key) return body.replaceChildren(...items.map(row));
    const keys = items.map((item) => String(key(item)));
    const wanted = new Set(keys);
    const kept = new Map();
    for (const tr of [...body.children]) {
      if (wanted.has(tr.dataset.key) && !kept.has(tr.dataset.key)) kept.set(tr.dataset.key, tr);
      else tr.remove();
    }
    let at = body.firstElementChild;
    items.forEach((item, i) => {
      let tr = kept.get(keys[i]);
      kept.delete(keys[i]);
      if (tr) {
        const cells = make(item);
        if (tr.children.length !== cells.length) tr.replaceChildren(...cells);
        else cells.forEach((cell, j) => {
          const old = tr.children[j];
          if (old.textContent !== cell.textContent) old.textContent = cell.textContent;
          if (old.className !== cell.className) old.className = cell.className;
        });
        if (decorate) decorate(tr, item);
      } else {
        tr = row(item);
        tr.dataset.key = keys[i];
      }
      if (tr === at) at = at.nextElementSibling;
      else body.insertBefore(tr, at);
    });
  }
  function range() {
    return `from=${encodeURIComponent($("report-from").value)}&to=${encodeURIComponent($("report-to").value)}`;
  }
  function say(text) {
    $("report-notice").textContent = text;
    $("report-notice").hidden = !text;
  }

  // --- receipts -----------------------------------------------------------------------------------
  function applySearch() {
    // what the Search button applies; the refresh every two seconds keeps using it
    const parts = [];
    for (const name of ["number", "table", "cashier"]) {
      const value = $(`search-${name}`).value.trim();
      if (value) parts.push(`${name}=${encodeURIComponent(value)}`);
    }
    const amount = $("search-amount").value.trim();
    const scale = 10 ** shell.currencyDigits(shell.venue.currency);
    if (amount) parts.push(`amount=${Math.round(parseFloat(amount.replace(",", ".")) * scale)}`);
    state.search = parts.join("&");
    state.offset = 0;
  }
  const receiptQuery = () => [range(), state.search].filter(Boolean).join("&");
  async function showReceipts() {
    const found = await call(`${base()}/receipts?${receiptQuery()}&limit=${PAGE}&offset=${state.offset}`);
    fill("receipts", found.items, (r) => [td(r.number), td(r.business_date), td(when(r.issued_at_ms)),
      td(r.register), td(r.cashier), td(r.table || r.tab), td(money(r.total), true),
      td(r.refunded ? money(r.refunded) : "", true)],
    (tr, r) => { tr.dataset.receipt = r.id; tr.className = "pick"; tr.onclick = () => openReceipt(r.id); }, (r) => r.id);
    const last = Math.min(found.offset + found.items.length, found.total);
    $("receipts-page").textContent = found.total ? `${found.offset + 1}–${last} of ${found.total}` : "no receipts";
    $("receipts-prev").disabled = found.offset === 0;
    $("receipts-next").disabled = last >= found.total;
  }
  const moved = (r) => (r.opened_table || r.opened_tab) && (r.opened_table !== r.table || r.opened_tab !== r.tab);
  const approved = (name) => (name ? `, approved by ${name}` : "");
  async function openReceipt(id) {
    state.detail = id;
    const r = await call(`${base()}/receipts/${encodeURIComponent(id)}`);
    $("detail-title").textContent = `Receipt ${r.number}`;
    const facts = {
      register: r.register, cashier: r.cashier, table: r.table || r.tab || "—",
      // where the order was opened, when it was moved (a row stored before schema 7 shows that only)
      ...(moved(r) ? { "opened at": r.opened_table || r.opened_tab || "—" } : {}),
      "order opened": `${when(r.order_opened_at_ms)} by ${r.order_opened_by_name || ""}`,
      issued: when(r.issued_at_ms), "business day": r.business_date,
      shift: `${when(r.shift.opened_at_ms)} – ${r.shift.closed_at_ms ? when(r.shift.closed_at_ms) : "open"}`,
      subtotal: money(r.subtotal), discount: money(r.discount), tax: money(r.tax), total: money(r.total),
      "order discounts": r.order_discounts.map((d) => `${d.discount_id} (${d.kind} ${d.value})${approved(d.approved_by_name)}`).join(", ") || "—",
    };
    $("detail-facts").replaceChildren(...Object.entries(facts).flatMap(([k, v]) => [
      shell.element("dt", k), shell.element("dd", v)]));
    fill("detail-lines", r.lines, (l) => [
      td(l.name + l.modifiers.map((m) => ` + ${m.name}`).join("")), td(l.quantity, true),
      td(money(l.unit_price), true), td(l.discount ? `${money(l.discount)}${l.discount_id ? ` (${l.discount_id})` : ""}${approved(l.discount_approved_by_name)}` : "", true),
      td(money(l.amount), true)]);
    fill("detail-payments", r.payments, (p) => [td(p.method), td(money(p.amount), true), td(money(p.tip), true),
      td(p.cashier), td(when(p.at_ms))]);
    fill("detail-refunds", r.refunds, (f) => [td(when(f.at_ms)), td(money(f.amount), true), td(f.tax == null ? "unknown" : money(f.tax), true), td(f.method),
      td(f.cashier), td(f.reason)]);
    const shown = $("receipt-detail");
    if (shown.hidden) {
      shown.hidden = false;
      shown.scrollIntoView({ block: "start" });
    }
  }

  // --- the other reports --------------------------------------------------------------------------
  async function showShifts() {
    const shifts = await call(`${base()}/shifts?${range()}`);
    // a shift open since an earlier business day says so where its close would be (console/open_shifts.py)
    fill("shifts", shifts, (s) => [td(s.report), td(s.register), td(s.opened_by_name), td(when(s.opened_at_ms)),
      td(s.open_since ? `open since ${s.open_since}: close it` : when(s.closed_at_ms)), td(s.receipts, true), td(money(s.sales), true), td(money(s.cash_taken), true),
      td(money(s.card_taken), true), td(money(s.refunds), true), td(money(s.opening_cash), true),
      td(money(s.drawer_expected), true), td(money(s.counted_cash), true), td(money(s.cash_difference), true),
      td(s.no_sales, true)],
    (tr, s) => { tr.dataset.report = s.report; if (s.open_since) tr.dataset.openSince = s.open_since; });
  }
  const SALES = {
    product: [["name", ""], ["category", ""], ["quantity", "n"], ["amount", "m"], ["discount", "m"], ["tax", "m"], ["refunded_tax", "m"], ["net_tax", "m"]],
    category: [["category", ""], ["quantity", "n"], ["amount", "m"], ["discount", "m"], ["tax", "m"], ["refunded_tax", "m"], ["net_tax", "m"]],
    cashier: [["cashier", ""], ["receipts", "n"], ["total", "m"], ["discount", "m"], ["tax", "m"], ["refunded_tax", "m"], ["net_tax", "m"]],
    hour: [["hour", ""], ["receipts", "n"], ["total", "m"]],
  };
  async function showSales() {
    const by = $("sales-by").value;
    const rows = await call(`${base()}/sales?${range()}&by=${by}`);
    const columns = SALES[by];
    const head = shell.element("tr");
    head.append(...columns.map(([name, kind]) => shell.element("th", name, kind ? { class: "num" } : {})));
    $("sales").querySelector("thead").replaceChildren(head);
    fill("sales", rows, (row) => columns.map(([name, kind]) =>
      td(kind === "m" ? money(row[name]) : name === "hour" ? `${String(row.hour).padStart(2, "0")}:00` : row[name] || "—", !!kind)));
  }
  async function showRefunds() {
    const [refunds, voids, noSales] = await Promise.all([call(`${base()}/refunds?${range()}`),
      call(`${base()}/voids?${range()}`), call(`${base()}/no-sales?${range()}`)]);
    fill("refunds", refunds, (f) => [td(f.number), td(when(f.at_ms)), td(money(f.amount), true),
      td(f.tax == null ? "unknown" : money(f.tax), true), td(f.method), td(f.register), td(f.cashier), td(f.approved_by_name || ""), td(f.reason), td(f.lines.map((l) => `${l.quantity} × ${l.name || l.line_id}`).join(", "))]);
    fill("voids", voids, (v) => [td(when(v.opened_at_ms)), td(v.register), td(v.cashier), td(v.table || v.tab),
      td(`${v.voided === "line" ? "line: " : ""}${v.lines.map((l) => `${l.quantity} × ${l.name}`).join(", ")}`), td(v.voided_by_name), td(v.approved_by_name), td(v.reason)]);
    fill("no-sales", noSales, (n) => [td(when(n.at_ms)), td(n.register), td(n.cashier), td(n.approved_by_name || ""), td(n.reason)]);
  }
  async function showStock() {
    const stock = await call(`${base()}/stock`);
    fill("stock", stock, (s) => [td(s.name), td(s.category), td(s.on_hand, true)],
      (tr, s) => { tr.dataset.product = s.product_id; tr.className = "pick"; tr.onclick = () => { state.product = s.product_id; showMoves(); }; },
      (s) => s.product_id);
    const select = $("stock-product");
    if (select.options.length !== stock.length) {
      select.replaceChildren(...stock.map((s) => shell.element("option", s.name, { value: s.product_id })));
    }
    if (state.product) await showMoves();
  }
  async function showMoves() {
    const moves = await call(`${base()}/stock/${encodeURIComponent(state.product)}?${range()}`);
    $("moves-title").textContent = `Movements of ${state.product}`;
    fill("moves", moves, (m) => [td(when(m.at_ms)), td(m.kind), td(m.change > 0 ? `+${m.change}` : m.change, true),
      td(m.receipt_number ? `receipt ${m.receipt_number}` : m.note), td(m.cashier), td(m.source)]);
  }
  // A stock entry is a movement, not a value: sent twice it counts twice. A double click or a second Enter
  // while the first is on its way entered a supply twice (24 croissants delivered, 48 on hand), so the
  // form takes nothing more until the first is answered (outside, the twenty-first session).
  let entering = false;
  async function enterStock(event) {
    event.preventDefault();
    if (entering) return;
    entering = true;
    const button = $("stock-entry").querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await call(`/api/venues/${encodeURIComponent(shell.venue.id)}/stock`, {
        method: "POST",
        body: { product_id: $("stock-product").value, kind: $("stock-kind").value,
          quantity: parseInt($("stock-quantity").value, 10), note: $("stock-note").value },
      });
      $("stock-note").value = "";
      say("");
      await showStock();
    } catch (error) {
      say(`Not entered: ${error.message}`);
    } finally {
      entering = false;
      button.disabled = false;
    }
  }

  const SHOW = { receipts: showReceipts, shifts: showShifts, sales: showSales, refunds: showRefunds, stock: showStock };
  async function show() {
    if (!shell.venue) return;
    for (const report of Object.keys(SHOW)) {
      $(`report-${report}`).hidden = report !== state.report;
      document.querySelector(`#report-tabs [data-report=${report}]`)
        .setAttribute("aria-selected", String(report === state.report));
    }
    try {
      await followTheDay();
      await SHOW[state.report]();
      say("");
    } catch (error) {
      if (error.status !== 401) say(`Cannot load the report: ${error.message}`);
    }
  }
  async function exportCsv(report) {
    const path = {
      receipts: `${base()}/receipts?${receiptQuery()}`, shifts: `${base()}/shifts?${range()}`,
      sales: `${base()}/sales?${range()}&by=${$("sales-by").value}`, refunds: `${base()}/refunds?${range()}`,
      voids: `${base()}/voids?${range()}`, "no-sales": `${base()}/no-sales?${range()}`, stock: `${base()}/stock?`,
    }[report];
    try {
      const text = await call(`${path}&format=csv`);
      const link = shell.element("a", "", {
        href: URL.createObjectURL(new Blob([text], { type: "text/csv" })),
        download: `${report}-${$("report-from").value}-${$("report-to").value}.csv`,
      });
      link.click();
      URL.revokeObjectURL(link.href);
    } catch (error) { say(`Cannot export: ${error.message}`); }
  }

  // The range a person has not picked: the venue's business day now and the one before (a night's
  // shift spans both), from the venue's summary (its clock and cut-off, a day ended early), never the
  // browser's calendar: a manager in London read a Kolkata venue's supply of 23:30 UTC (05:00 there,
  // the next day) nowhere. The summary is read again each minute, so a page left open follows the day.
  let picked = false;
  let summaryAt = Date.now();
  async function followTheDay() {
    if (picked) return;
    if (Date.now() - summaryAt > 60000) {
      summaryAt = Date.now();
      await shell.reloadVenue();
    }
    const today = shell.venue.business_day;
    if (!today) return;
    const before = new Date(`${today}T12:00:00Z`);
    before.setUTCDate(before.getUTCDate() - 1);
    $("report-to").value = today;
    $("report-from").value = before.toISOString().slice(0, 10);
  }
  document.querySelectorAll("#report-tabs button").forEach((b) => {
    b.onclick = () => { state.report = b.dataset.report; show(); };
  });
  // a day being typed is the person's: the refresh every two seconds leaves it alone
  for (const id of ["report-from", "report-to"]) $(id).addEventListener("input", () => { picked = true; });
  $("report-range").onsubmit = (e) => { e.preventDefault(); picked = true; state.offset = 0; show(); };
  $("receipt-search").onsubmit = (e) => { e.preventDefault(); applySearch(); show(); };
  $("receipts-prev").onclick = () => { state.offset = Math.max(0, state.offset - PAGE); show(); };
  $("receipts-next").onclick = () => { state.offset += PAGE; show(); };
  $("detail-close").onclick = () => { state.detail = null; $("receipt-detail").hidden = true; };
  $("sales-by").onchange = () => show();
  $("stock-entry").onsubmit = enterStock;
  document.querySelectorAll("[data-export]").forEach((b) => { b.onclick = () => exportCsv(b.dataset.export); });
  // the shell shows the tab when it is chosen, when the venue changes, and every two seconds
  shell.onShow("reports", () => show());
})();
