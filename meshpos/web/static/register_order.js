"use strict";
// The order's shape on the register page: a line's quantity (− and +), where the order is (a table or a
// tab, set, moved or cleared) and splitting it by items into a new bill that any register may take
// payment for. Loaded after register.js, whose state, act, takeOrder, setOrder and render it uses; each
// change is one call to the node, whose refusal (in the venue's words) is shown as it is.

// An order as a cashier names it: its short number and where it is.
function orderTitle(o) {
  const place = o.table ? `table ${o.table}` : o.tab ? `tab ${o.tab}` : "";
  return `#${o.id.slice(0, 6)}${place ? ` · ${place}` : ""}`;
}

// The order's lines, in place (Mesh.keyed): another register edits the same order at any moment and a
// tap on one line's − + × must hold. A line is keyed by what its buttons act on (its quantity, whether
// the kitchen has it): a line changed under the finger is replaced and the tap dropped, never applied
// to what it no longer means. A line record that does not parse (written by a broken or malicious
// device) is left out of the order and its totals, and listed in the alarms (model/order_lines.py).
function drawLines(o, sent) {
  const lines = (o ? o.lines : []).map((line, i) => ({ line, amount: o.amounts[i].amount }));
  const bad = (o ? o.unreadable_lines || [] : []).map((unreadable) => ({ unreadable }));
  Mesh.keyed($("#lines"), [...lines, ...bad],
    (x) => (x.line ? `${o.id}:${x.line.id}:${x.line.quantity}:${sent.has(x.line.id)}` : `unreadable:${x.unreadable.line_id}`),
    (x) => (x.line ? h("li", { "data-line": x.line.id },
      ...quantityButtons(o, x.line, sent.has(x.line.id)), h("span", { class: "name" }), h("span", { class: "amount" }),
      h("button", { type: "button", class: "remove", "aria-label": `Remove ${x.line.name}`, "data-line": x.line.id,
        onclick: () => removeLine(o, x.line, sent.has(x.line.id)) }, "×"))
      : h("li", { class: "unreadable", "data-unreadable": x.unreadable.line_id },
        h("span", { class: "name" }, "Unreadable line: not counted",
          h("small", {}, `${x.unreadable.reason} (listed in the alarms)`)))),
    (li, x) => {
      if (!x.line) return;
      const { line } = x;
      li.querySelector(".name").replaceChildren(line.name,
        line.modifiers.length ? h("small", {}, line.modifiers.map((m) => m.name).join(", ")) : "",
        line.discount_id ? h("small", { class: "discount" }, discountName(line.discount_id)) : "",
        sent.has(line.id) ? h("small", { class: "sent" }, "sent to kitchen") : "");
      li.querySelector(".amount").textContent = money(x.amount);
    });
}

// − n × + for a line: a line the kitchen already has keeps its quantity (the node says so too).
function quantityButtons(order, line, sent) {
  const why = sent ? "Sent to the kitchen: add a new item, or void it" : null;
  const change = (quantity) => () => act(async () => {
    // more of a discounted line than a manager approved asks them again (withApproval)
    takeOrder(await withApproval("PUT", `/api/orders/${order.id}/lines/${line.id}/quantity`, { user: state.user.id, quantity }));
  });
  return [
    h("button", { type: "button", class: "qty-down", "aria-label": `One ${line.name} less`, title: why,
      disabled: sent || line.quantity <= 1, onclick: change(line.quantity - 1) }, "−"),
    h("span", { class: "qty", "data-qty": line.id }, `${line.quantity} ×`),
    h("button", { type: "button", class: "qty-up", "aria-label": `One ${line.name} more`, title: why,
      disabled: sent, onclick: change(line.quantity + 1) }, "+"),
  ];
}

// The names of the discounts an order's line gets: its own, then the order's (shared across its lines).
function discountNames(order, line) {
  const own = line && line.discount_id ? [discountName(line.discount_id)] : [];
  return [...own, ...(order ? order.discounts.map(([id]) => discountName(id)) : [])];
}

// Every discount an order gets, by name: its lines' own, then the order's (what a "Discount" total sums).
function allDiscountNames(order) {
  const ids = [...order.lines.filter((l) => l.discount_id).map((l) => l.discount_id), ...order.discounts.map(([id]) => id)];
  return [...new Set(ids)].map(discountName).join(", ");
}

// A receipt's line as printed: the quantity and name, the modifiers and the discounts it got (from the
// paid order's line of the same id: the receipt keeps amounts only), and what the guest pays for it.
function receiptLine(line, order) {
  const sold = order ? order.lines.find((l) => l.id === line.line_id) : null;
  const modifiers = sold && sold.modifiers.length ? sold.modifiers.map((m) => m.name).join(", ") : "";
  const names = discountNames(order, sold).join(" + ") || "Discount";
  const discount = line.discount ? `${names} −${money(line.discount)}` : "";
  return h("tr", { "data-line": line.line_id },
    h("td", {}, `${line.quantity} × ${line.name}`,
      modifiers ? h("small", { class: "modifiers" }, modifiers) : null,
      discount ? h("small", { class: "discount" }, discount) : null),
    h("td", { class: "amount" }, money(line.amount)));
}

// --- table or tab ------------------------------------------------------------------------------

function askPlace(o) {
  $("#place-title").textContent = o ? `Table or tab of order ${orderTitle(o)}` : "Table or tab of a new order";
  $("#place-table").value = o ? o.table : "";
  $("#place-tab").value = o ? o.tab : "";
  return answerOf($("#place-dialog"), $("#place-form"),
    () => ({ table: $("#place-table").value.trim(), tab: $("#place-tab").value.trim() }));
}

async function openPlace() {
  const o = state.order;
  const place = await askPlace(o);
  if (place === null) return;
  act(async () => {
    if (!o) {
      const order = await api("POST", "/api/orders", { user: state.user.id, ...place });
      setOrder(order.id);
      takeOrder(order);
      return;
    }
    takeOrder(await api("PUT", `/api/orders/${o.id}/place`, { user: state.user.id, ...place }));
  });
}

// --- split by items ----------------------------------------------------------------------------

function askSplit(o) {
  $("#split-title").textContent = `Split order ${orderTitle(o)}`;
  $("#split-error").hidden = true;
  $("#split-lines").replaceChildren(...o.lines.map((line) => h("tr", { "data-line": line.id },
    h("td", {}, `${line.quantity} × ${line.name}`,
      line.modifiers.length ? h("small", {}, line.modifiers.map((m) => m.name).join(", ")) : null),
    h("td", {}, h("input", { type: "number", min: "0", max: String(line.quantity), value: "0",
      "data-split": line.id, "aria-label": `How many ${line.name} go on the new bill` })))));
  const read = () => {
    const lines = {};
    for (const input of $("#split-lines").querySelectorAll("input[data-split]")) {
      const quantity = Number(input.value);
      if (!Number.isInteger(quantity) || quantity < 0 || quantity > Number(input.max)) {
        return splitProblem(`Choose between 0 and ${input.max} of a line.`);
      }
      if (quantity > 0) lines[input.dataset.split] = quantity;
    }
    if (!Object.keys(lines).length) return splitProblem("Choose at least one item for the new bill.");
    return lines;
  };
  return answerOf($("#split-dialog"), $("#split-form"), read);
}

function splitProblem(message) {
  $("#split-error").hidden = false;
  $("#split-error").textContent = message;
  return undefined; // the dialog stays open
}

async function openSplit() {
  const o = state.order;
  if (!o) return;
  const lines = await askSplit(o);
  if (lines === null) return;
  act(async () => {
    const bill = await api("POST", `/api/orders/${o.id}/split`, { user: state.user.id, lines });
    setOrder(bill.id);
    takeOrder(bill);
    notice(`New bill ${orderTitle(bill)}; the rest stays on #${o.id.slice(0, 6)} (open orders).`, "info");
  });
}

$("#place-button").addEventListener("click", openPlace);
$("#split-button").addEventListener("click", openSplit);
