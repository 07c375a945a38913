"use strict";
// The register's reports and records: X report (the shift so far), Z report (close the shift with the
// counted cash; the venue's last open shift also ends the business day), a "no sale" opening of the drawer
// (recorded with a reason), and finding a past receipt by number, table or amount to reprint it. Loaded
// after register.js and register_actions.js, whose state, act, askAmount, askReason, withApproval,
// loadReceiptView and openReceipt it uses; it adds its own menu entries and dialogs, so the page's HTML only loads it.
// Under the venue's blind count the node leaves the expected cash out (null) until the drawer is counted.

const Reports = (() => {
  const FIGURES = [
    ["receipts", "Receipts", false],
    ["sales", "Sales", true],
    ["cash_taken", "Cash taken (with tips)", true],
    ["card_taken", "Card and other (with tips)", true],
    ["refunds", "Refunds", true],
    ["cash_refunds", "of which cash", true],
    ["cash_in", "Cash in", true],
    ["cash_out", "Cash out", true],
  ];
  const clock = (ms) => Mesh.when(ms, true);

  function dialog(id, ...children) {
    const d = h("dialog", { id, class: "report-dialog" }, ...children);
    document.body.append(d);
    return d;
  }

  // --- X and Z ----------------------------------------------------------------------------------
  const reportDialog = dialog("report-dialog",
    h("h2", { id: "report-title" }),
    h("p", { id: "report-who", class: "hint" }),
    h("dl", { id: "report-figures" }),
    h("h3", {}, "No sale openings"),
    h("ul", { id: "report-no-sales", class: "list" }),
    h("p", { id: "report-day", class: "hint" }),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "report-print", onclick: () => window.print() }, "Print"),
      h("button", { type: "button", class: "primary", id: "report-done", onclick: () => reportDialog.close() }, "Done")));

  function showReport(report, day) {
    const s = report.shift;
    const currency = state.catalog.currency;
    $("#report-title").textContent = `${report.report} report · ${s.register}`;
    $("#report-who").textContent = `Shift of ${userName(s.user)} opened ${Mesh.when(s.opened_at_ms)}` +
      (s.close ? ` · closed ${Mesh.when(s.close.closed_at_ms)} by ${userName(s.close.user)}` : " · so far");
    const rows = [["opening_cash", "Opening cash", s.opening_cash, true],
      ...FIGURES.map(([key, label, isMoney]) => [key, label, report[key], isMoney])];
    rows.push(["drawer_expected", "Expected in the drawer", report.drawer_expected, true]);
    if (s.close) {
      rows.push(["counted_cash", "Counted", s.close.counted_cash, true]);
      rows.push(["difference", "Difference", s.close.counted_cash - s.close.expected_cash, true]);
    }
    rows.push(["no_sales", "No sale openings", report.no_sales.length, false]);
    $("#report-figures").replaceChildren(...rows.flatMap(([key, label, value, isMoney]) => [
      h("dt", {}, label),
      h("dd", { "data-figure": key }, value === null ? "hidden (blind count)" : isMoney ? `${money(value)} ${currency}` : String(value)),
    ]));
    $("#report-no-sales").replaceChildren(...report.no_sales.map((n) => h("li", { "data-no-sale": n.id },
      `${clock(n.at_ms)} · ${userName(n.user)}${n.reason ? ` · ${n.reason}` : ""}${n.approved_by ? ` · approved by ${userName(n.approved_by)}` : ""}`)));
    const dayLine = $("#report-day");
    dayLine.hidden = !day;
    if (day) dayLine.textContent = day.day ? `Business day ${day.day.date} ended: sales now go to ${day.day.next_date} (the day closes once the console holds all of it).` : `Business day not ended: ${day.day_open}.`;
    if (!reportDialog.open) reportDialog.showModal();
  }

  async function xReport() {
    closeMenu();
    try {
      showReport(await api("GET", "/api/shifts/current/report"), null);
    } catch (error) {
      notice(error.message);
    }
  }

  async function zReport() {
    closeMenu();
    const expected = state.shift && state.shift.expected_cash; // null under the blind count
    const counted = await askAmount("Z report · close the shift", "Counted cash", expected === null || expected === undefined ? "" : money(expected));
    if (counted === null) return;
    act(async () => {
      const done = await api("POST", "/api/shifts/current/z", { user: state.user.id, counted_cash: counted });
      showReport(done.z, done);
    });
  }

  // --- no sale ----------------------------------------------------------------------------------
  async function noSale() {
    closeMenu();
    const reason = await askReason("No sale: why is the drawer opened?");
    if (reason === null) return;
    act(async () => {
      await withApproval("POST", "/api/shifts/current/no-sales", { user: state.user.id, reason });
      notice("Drawer opened with no sale: recorded.", "info");
    });
  }

  // --- finding and reprinting a past receipt ----------------------------------------------------
  const searchDialog = dialog("receipt-search-dialog",
    h("form", { id: "receipt-search-form" },
      h("h2", {}, "Find a receipt"),
      h("label", {}, "Number ", h("input", { id: "search-number", maxlength: "128", placeholder: "R1-000123 or 123" })),
      h("label", {}, "Table or tab ", h("input", { id: "search-table", maxlength: "200" })),
      h("label", {}, "Amount ", h("input", { id: "search-amount", inputmode: "decimal" })),
      h("label", {}, "Business day ", h("input", { id: "search-date", type: "date" })),
      h("ul", { id: "search-results", class: "list" }),
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => searchDialog.close() }, "Close"),
        h("button", { class: "primary", id: "search-go" }, "Search"))));

  const reprintDialog = dialog("reprint-dialog",
    h("p", { id: "reprint-header", class: "hint" }),
    h("h2", {}, "Receipt ", h("span", { id: "reprint-number" }), " ", h("small", {}, "(reprint)")),
    h("p", { id: "reprint-when", class: "hint" }),
    h("table", { id: "reprint-lines" }),
    h("dl", { id: "reprint-totals" }),
    h("p", { id: "reprint-footer", class: "hint" }),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => reprintDialog.close() }, "Close"),
      h("button", { type: "button", id: "reprint-refund" }, "Refund…"),
      h("button", { type: "button", class: "primary", id: "reprint-print", onclick: () => window.print() }, "Print")));

  function findReceipts() {
    closeMenu();
    $("#search-results").replaceChildren();
    searchDialog.showModal();
    $("#search-number").focus();
  }

  async function search(event) {
    event.preventDefault();
    const query = new URLSearchParams();
    const number = $("#search-number").value.trim();
    const table = $("#search-table").value.trim();
    const amountText = $("#search-amount").value.trim();
    const date = $("#search-date").value;
    if (number) query.set("number", number);
    if (table) query.set("table", table);
    if (amountText) {
      const amount = parseMoney(amountText);
      if (amount === null) return notice(`The amount is not a sum of money (e.g. ${Mesh.money(1250)}).`);
      query.set("amount", String(amount));
    }
    if (date) query.set("date", date);
    let found;
    try {
      found = await api("GET", `/api/receipt-search?${query}`);
    } catch (error) {
      return notice(error.message);
    }
    $("#search-results").replaceChildren(...(found.length ? found.map((f) => h("li", { "data-number": f.receipt.number },
      h("button", { type: "button", onclick: () => reprint(f.receipt.id) },
        `${f.receipt.number} · ${money(f.receipt.total)}${f.table ? ` · table ${f.table}` : ""}${f.tab ? ` · tab ${f.tab}` : ""} · ${Mesh.when(f.receipt.issued_at_ms)}`)))
      : [h("li", { class: "hint" }, "No receipt matches.")]));
  }

  async function reprint(id) {
    let view;
    try {
      // a receipt of a closed day loads its day first; with its order for the modifiers and discounts
      view = await loadReceiptView(id);
    } catch (error) {
      return notice(error.message);
    }
    const { receipt, refunds, order } = view;
    const currency = state.catalog.currency;
    $("#reprint-header").textContent = state.catalog.receipt_header;
    $("#reprint-footer").textContent = state.catalog.receipt_footer;
    $("#reprint-number").textContent = receipt.number;
    $("#reprint-when").textContent = `${Mesh.when(receipt.issued_at_ms)} · ${receipt.register} · ${userName(receipt.user)}`;
    $("#reprint-lines").replaceChildren(...receipt.lines.map((line) => receiptLine(line, order)));
    const discounts = order ? allDiscountNames(order) : "";
    $("#reprint-totals").replaceChildren(
      h("dt", {}, "Subtotal"), h("dd", {}, money(receipt.subtotal)),
      ...(receipt.discount ? [h("dt", {}, discounts ? `Discounts (${discounts})` : "Discounts"),
        h("dd", { "data-total": "discount" }, `−${money(receipt.discount)}`)] : []),
      h("dt", {}, "Total"), h("dd", { "data-total": "total" }, `${money(receipt.total)} ${currency}`),
      h("dt", {}, "of which tax"), h("dd", {}, money(receipt.tax)),
      ...refunds.flatMap((r) => [h("dt", {}, `Refunded ${clock(r.at_ms)}`), h("dd", {}, `−${money(r.amount)}`)]));
    $("#reprint-refund").onclick = () => { reprintDialog.close(); searchDialog.close(); openReceipt(receipt.id); };
    reprintDialog.showModal();
  }

  // --- wiring -----------------------------------------------------------------------------------
  // its own styles (figures in two columns; printing shows the open dialog only): app.css is the register
  // page's, and the page's content security policy allows style sheets, not inline styles
  document.head.append(h("link", { rel: "stylesheet", href: "/static/register_reports.css" }));
  const entries = [["x-report", "X report", xReport], ["z-report", "Z report (close shift)", zReport],
    ["no-sale", "No sale", noSale], ["find-receipt", "Find receipt", findReceipts]];
  const logout = $("#logout");
  for (const [id, label, run] of entries) logout.before(h("button", { id, onclick: run }, label));
  $("#receipt-search-form").addEventListener("submit", search);
  return { showReport, reprint };
})();
