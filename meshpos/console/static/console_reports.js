// Reports a manager reads: receipts (search, pages, a receipt's detail), shifts (X and Z), sales, refunds
// and voids, stock (on hand, a product's movements, supplies and write-offs). Reads the console's JSON API
// (/api/venues/{venue}/reports/...) with the page's admin token; every table exports CSV.
"use strict";
(() => {
  const TOKEN_KEY = "meshpos-console-token";
  const PAGE = 50;
  const state = { tab: "receipts", offset: 0, currency: "", detail: null, product: null };
  const $ = (id) => document.getElementById(id);

  function chosenVenue() {
    // console.js keeps the venue the manager chose; the first venue until it has one
    try { if (typeof venue !== "undefined" && venue) return venue; } catch (e) { /* not defined */ }
    return state.venue || null;
  }
  function headers() {
    return { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}` };
  }
  async function call(path, options = {}) {
    const response = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
    if ((response.headers.get("content-type") || "").startsWith("text/csv")) return response.blob();
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    return body;
  }
  const base = () => `/api/venues/${encodeURIComponent(chosenVenue())}/reports`;
  function money(minor) {
    if (minor == null) return "";
    if (state.currency) {
      try {
        return new Intl.NumberFormat(undefined, { style: "currency", currency: state.currency }).format(minor / 100);
      } catch (e) { /* not a currency code: plain figures */ }
    }
    return (minor / 100).toFixed(2);
  }
  const when = (ms) => (ms ? new Date(ms).toLocaleString() : "");
  function td(text, num) {
    const cell = document.createElement("td");
    cell.textContent = text == null ? "" : String(text);
    if (num) cell.className = "num";
    return cell;
  }
  function fill(tableId, items, make, decorate) {
    $(tableId).querySelector("tbody").replaceChildren(...items.map((item) => {
      const tr = document.createElement("tr");
      tr.append(...make(item));
      if (decorate) decorate(tr, item);
      return tr;
    }));
  }
  function isoDay(date) {
    return new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
  }
  function range() {
    return `from=${encodeURIComponent($("report-from").value)}&to=${encodeURIComponent($("report-to").value)}`;
  }
  function say(text) {
    $("report-notice").textContent = text;
    $("report-notice").hidden = !text;
  }

  // --- receipts -----------------------------------------------------------------------------------
  function receiptQuery() {
    const parts = [range()];
    for (const name of ["number", "table", "cashier"]) {
      const value = $(`search-${name}`).value.trim();
      if (value) parts.push(`${name}=${encodeURIComponent(value)}`);
    }
    const amount = $("search-amount").value.trim();
    if (amount) parts.push(`amount=${Math.round(parseFloat(amount.replace(",", ".")) * 100)}`);
    return parts.join("&");
  }
  async function showReceipts() {
    const found = await call(`${base()}/receipts?${receiptQuery()}&limit=${PAGE}&offset=${state.offset}`);
    state.currency = found.currency || state.currency;
    fill("receipts", found.items, (r) => [td(r.number), td(r.business_date), td(when(r.issued_at_ms)),
      td(r.register), td(r.cashier), td(r.table || r.tab), td(money(r.total), true),
      td(r.refunded ? money(r.refunded) : "", true)],
    (tr, r) => { tr.dataset.receipt = r.id; tr.className = "pick"; tr.onclick = () => openReceipt(r.id); });
    const last = Math.min(found.offset + found.items.length, found.total);
    $("receipts-page").textContent = found.total ? `${found.offset + 1}–${last} of ${found.total}` : "no receipts";
    $("receipts-prev").disabled = found.offset === 0;
    $("receipts-next").disabled = last >= found.total;
  }
  async function openReceipt(id) {
    state.detail = id;
    const r = await call(`${base()}/receipts/${encodeURIComponent(id)}`);
    state.currency = r.currency || state.currency;
    $("detail-title").textContent = `Receipt ${r.number}`;
    const facts = {
      register: r.register, cashier: r.cashier, table: r.table || r.tab || "—",
      "order opened": `${when(r.order_opened_at_ms)} by ${r.order_opened_by_name || ""}`,
      issued: when(r.issued_at_ms), "business day": r.business_date,
      shift: `${when(r.shift.opened_at_ms)} – ${r.shift.closed_at_ms ? when(r.shift.closed_at_ms) : "open"}`,
      subtotal: money(r.subtotal), discount: money(r.discount), tax: money(r.tax), total: money(r.total),
      "order discounts": r.order_discounts.map((d) => `${d.discount_id} (${d.kind} ${d.value})`).join(", ") || "—",
    };
    $("detail-facts").replaceChildren(...Object.entries(facts).flatMap(([k, v]) => {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v;
      return [dt, dd];
    }));
    fill("detail-lines", r.lines, (l) => [
      td(l.name + l.modifiers.map((m) => ` + ${m.name}`).join("")), td(l.quantity, true),
      td(money(l.unit_price), true), td(l.discount ? `${money(l.discount)}${l.discount_id ? ` (${l.discount_id})` : ""}` : "", true),
      td(money(l.amount), true)]);
    fill("detail-payments", r.payments, (p) => [td(p.method), td(money(p.amount), true), td(money(p.tip), true),
      td(p.cashier), td(when(p.at_ms))]);
    fill("detail-refunds", r.refunds, (f) => [td(when(f.at_ms)), td(money(f.amount), true), td(f.method),
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
    fill("shifts", shifts, (s) => [td(s.report), td(s.register), td(s.opened_by_name), td(when(s.opened_at_ms)),
      td(when(s.closed_at_ms)), td(s.receipts, true), td(money(s.sales), true), td(money(s.cash_taken), true),
      td(money(s.card_taken), true), td(money(s.refunds), true), td(money(s.opening_cash), true),
      td(money(s.drawer_expected), true), td(money(s.counted_cash), true), td(money(s.cash_difference), true)],
    (tr, s) => { tr.dataset.report = s.report; });
  }
  const SALES = {
    product: [["name", ""], ["category", ""], ["quantity", "n"], ["amount", "m"], ["discount", "m"], ["tax", "m"]],
    category: [["category", ""], ["quantity", "n"], ["amount", "m"], ["discount", "m"], ["tax", "m"]],
    cashier: [["cashier", ""], ["receipts", "n"], ["total", "m"], ["discount", "m"], ["tax", "m"]],
    hour: [["hour", ""], ["receipts", "n"], ["total", "m"]],
  };
  async function showSales() {
    const by = $("sales-by").value;
    const rows = await call(`${base()}/sales?${range()}&by=${by}`);
    const columns = SALES[by];
    $("sales").querySelector("thead").replaceChildren(Object.assign(document.createElement("tr"), {
      innerHTML: columns.map(([name, kind]) => `<th class="${kind ? "num" : ""}">${name}</th>`).join(""),
    }));
    fill("sales", rows, (row) => columns.map(([name, kind]) =>
      td(kind === "m" ? money(row[name]) : name === "hour" ? `${String(row.hour).padStart(2, "0")}:00` : row[name] || "—", !!kind)));
  }
  async function showRefunds() {
    const [refunds, voids] = await Promise.all([call(`${base()}/refunds?${range()}`), call(`${base()}/voids?${range()}`)]);
    fill("refunds", refunds, (f) => [td(f.number), td(when(f.at_ms)), td(money(f.amount), true), td(f.method),
      td(f.register), td(f.cashier), td(f.reason), td(f.lines.map((l) => `${l.quantity} × ${l.name || l.line_id}`).join(", "))]);
    fill("voids", voids, (v) => [td(when(v.opened_at_ms)), td(v.register), td(v.cashier), td(v.table || v.tab),
      td(v.lines.map((l) => `${l.quantity} × ${l.name}`).join(", "))]);
  }
  async function showStock() {
    const stock = await call(`${base()}/stock`);
    fill("stock", stock, (s) => [td(s.name), td(s.category), td(s.on_hand, true)],
      (tr, s) => { tr.dataset.product = s.product_id; tr.className = "pick"; tr.onclick = () => { state.product = s.product_id; showMoves(); }; });
    const select = $("stock-product");
    if (select.options.length !== stock.length) {
      select.replaceChildren(...stock.map((s) => Object.assign(document.createElement("option"), { value: s.product_id, textContent: s.name })));
    }
    if (state.product) await showMoves();
  }
  async function showMoves() {
    const moves = await call(`${base()}/stock/${encodeURIComponent(state.product)}?${range()}`);
    $("moves-title").textContent = `Movements of ${state.product}`;
    fill("moves", moves, (m) => [td(when(m.at_ms)), td(m.kind), td(m.change > 0 ? `+${m.change}` : m.change, true),
      td(m.note), td(m.cashier), td(m.source)]);
  }
  async function enterStock(event) {
    event.preventDefault();
    const venueBase = `/api/venues/${encodeURIComponent(chosenVenue())}`;
    try {
      await call(`${venueBase}/stock`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ product_id: $("stock-product").value, kind: $("stock-kind").value,
          quantity: parseInt($("stock-quantity").value, 10), note: $("stock-note").value }),
      });
      $("stock-note").value = "";
      say("");
      await showStock();
    } catch (error) { say(`Not entered: ${error.message}`); }
  }

  const SHOW = { receipts: showReceipts, shifts: showShifts, sales: showSales, refunds: showRefunds, stock: showStock };
  async function show() {
    if (!chosenVenue()) {
      const venues = await call("/api/venues");
      state.venue = venues[0];
      if (!state.venue) return;
    }
    for (const tab of Object.keys(SHOW)) {
      $(`report-${tab}`).hidden = tab !== state.tab;
      document.querySelector(`#report-tabs [data-tab=${tab}]`).classList.toggle("chosen", tab === state.tab);
    }
    try {
      await SHOW[state.tab]();
      say("");
    } catch (error) { say(`Cannot load the report: ${error.message}`); }
  }
  async function exportCsv(tab) {
    const path = {
      receipts: `${base()}/receipts?${receiptQuery()}`, shifts: `${base()}/shifts?${range()}`,
      sales: `${base()}/sales?${range()}&by=${$("sales-by").value}`, refunds: `${base()}/refunds?${range()}`,
      voids: `${base()}/voids?${range()}`, stock: `${base()}/stock?`,
    }[tab];
    try {
      const blob = await call(`${path}&format=csv`);
      const link = Object.assign(document.createElement("a"), {
        href: URL.createObjectURL(blob), download: `${tab}-${$("report-from").value}-${$("report-to").value}.csv`,
      });
      link.click();
      URL.revokeObjectURL(link.href);
    } catch (error) { say(`Cannot export: ${error.message}`); }
  }

  function start() {
    const today = new Date();
    $("report-to").value = isoDay(today);
    // a sale before the venue's cut-off (04:00) belongs to yesterday's business day
    $("report-from").value = isoDay(new Date(today.getTime() - 86400000));
    document.querySelectorAll("#report-tabs button").forEach((b) => {
      b.onclick = () => { state.tab = b.dataset.tab; show(); };
    });
    $("report-range").onsubmit = (e) => { e.preventDefault(); state.offset = 0; show(); };
    $("receipt-search").onsubmit = (e) => { e.preventDefault(); state.offset = 0; show(); };
    $("receipts-prev").onclick = () => { state.offset = Math.max(0, state.offset - PAGE); show(); };
    $("receipts-next").onclick = () => { state.offset += PAGE; show(); };
    $("detail-close").onclick = () => { state.detail = null; $("receipt-detail").hidden = true; };
    $("sales-by").onchange = () => show();
    $("stock-entry").onsubmit = enterStock;
    document.querySelectorAll("[data-export]").forEach((b) => { b.onclick = () => exportCsv(b.dataset.export); });
    show();
    // new sales arrive while the page is open: the shown report follows (not while a field is being typed in)
    setInterval(() => {
      if (!document.activeElement || !["INPUT", "SELECT"].includes(document.activeElement.tagName)) show();
    }, 3000);
  }
  start();
})();
