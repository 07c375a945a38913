"use strict";
// The register's actions a cashier may need a manager for: manager approval on the spot, refunds from a
// past receipt (whole or by line and quantity, with a reason) and voiding an order or a line the kitchen
// has. Loaded after register.js, whose state, act and render it uses; a receipt's lines are drawn by
// register_order.js's receiptLine, called only once every script has loaded.

// An action the cashier may not do alone is answered 403 needs_approval, its message naming the right
// ("(right: refund)"). A user holding it picks their name and types their PIN on this screen; the same
// request goes again with them as approver, and the node checks the PIN (limited like a login) and
// records who approved. The cashier stays logged in, and the page keeps nothing of the approver.
async function withApproval(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (error) {
    if (error.code !== "needs_approval") throw error;
    const right = (error.message.match(/\(right: ([a-z_]+)\)/) || [])[1] || "";
    let problem = "";
    for (;;) {
      const approver = await askApproval(right, error.message, problem);
      if (!approver) throw new Error("Not approved: nothing was done.");
      try {
        return await api(method, path, { ...body, approver: approver.user, approver_pin: approver.pin });
      } catch (refused) {
        if (refused.code !== "approval_refused") throw refused; // e.g. 429 pin_locked: stop asking
        problem = refused.message;
      }
    }
  }
}

let approverChosen = "";
function askApproval(right, why, problem) {
  const holders = state.catalog.users.filter((u) => u.rights.includes(right) && u.id !== state.user.id);
  if (!holders.some((u) => u.id === approverChosen)) approverChosen = holders.length === 1 ? holders[0].id : "";
  $("#approval-why").textContent = holders.length ? why : `${why}. Nobody else here may do that.`;
  $("#approval-error").hidden = !problem;
  $("#approval-error").textContent = problem;
  const drawHolders = () => $("#approvers").replaceChildren(...holders.map((u) => h("button", {
    type: "button", "data-approver": u.id, class: u.id === approverChosen ? "chosen" : "",
    onclick: () => { approverChosen = u.id; drawHolders(); $("#approval-pin").focus(); },
  }, u.name)));
  drawHolders();
  $("#approval-pin").value = "";
  const choose = () => {
    if (approverChosen) return { user: approverChosen, pin: $("#approval-pin").value };
    $("#approval-error").hidden = false;
    $("#approval-error").textContent = "Choose who approves first.";
    return undefined;
  };
  return answerOf($("#approval-dialog"), $("#approval-form"), choose, () => { $("#approval-pin").value = ""; });
}

function askReason(title) {
  $("#reason-title").textContent = title;
  $("#reason-input").value = "";
  return answerOf($("#reason-dialog"), $("#reason-form"), () => $("#reason-input").value.trim());
}

// × on a line. A line the kitchen already has is voided, not just removed: the cashier says why (kept
// with the record, in the console's voids report) and a manager approves it if the cashier may not void.
async function removeLine(o, line, sent) {
  const reason = sent ? await askReason(`Void ${line.quantity} × ${line.name} (sent to the kitchen)`) : "";
  if (reason === null) return;
  act(async () => {
    takeOrder(await withApproval("DELETE", `/api/orders/${o.id}/lines/${line.id}`, { user: state.user.id, reason }));
  });
}

async function voidOrder() {
  const o = state.order;
  if (!o) return;
  const reason = await askReason(`Void order ${orderTitle(o)}`);
  if (reason === null) return;
  act(async () => {
    await withApproval("POST", `/api/orders/${o.id}/void`, { user: state.user.id, reason });
    setOrder("");
    notice("Order voided.", "info");
  });
}

// --- a past receipt and its refunds -------------------------------------------------------------

let viewed = null; // the receipt view on screen: { receipt, refunds, refunded, order }

// A receipt with its refunds, and its order for the lines' modifiers and discounts (the receipt keeps
// amounts only: receiptLine); an order the node cannot read still leaves the receipt refundable.
async function loadReceiptView(id) {
  const view = await api("GET", `/api/receipts/${id}`);
  const order = await api("GET", `/api/orders/${view.receipt.order_id}`).catch(() => null);
  return { ...view, order };
}

async function openReceipt(id) {
  try {
    viewed = await loadReceiptView(id);
  } catch (error) {
    return notice(error.message);
  }
  drawReceiptView();
  $("#refund-reason").value = "";
  $("#refund-method").value = "";
  $("#receipt-view-dialog").showModal();
}

function drawReceiptView() {
  const { receipt, refunds, refunded, order } = viewed;
  const discounts = receipt.discount
    ? ` · ${order && allDiscountNames(order) ? `Discounts (${allDiscountNames(order)})` : "Discounts"} −${money(receipt.discount)}`
    : "";
  $("#view-number").textContent = receipt.number;
  $("#view-when").textContent = `${Mesh.when(receipt.issued_at_ms)} · ${money(receipt.total)} ${state.catalog.currency}${discounts}`;
  $("#view-lines").replaceChildren(...receipt.lines.map((line) => {
    const left = line.quantity - (refunded[line.line_id] || 0);
    // the line as printed on the receipt (modifiers, discounts), then how many of it to give back
    const row = receiptLine(line, order);
    row.append(h("td", {}, left > 0
      ? h("input", { type: "number", min: "0", max: String(left), value: "0", "data-refund": line.line_id,
        "aria-label": `Refund how many ${line.name}` })
      : "refunded"));
    return row;
  }));
  // what each tender paid and has left to give back: a refund goes back by one of them, and cash never
  // more than the cash this receipt took less the cash already given back (model/refund_tenders.py)
  const tenders = viewed.tenders || [];
  $("#view-tenders").textContent = tenders.length
    ? `Paid: ${tenders.map((t) => `${t.method} ${money(t.paid)}${t.refunded ? ` (${money(t.refunded)} given back)` : ""}`).join(", ")}`
      + ` · cash back at most ${money(Math.max(0, tenders.filter((t) => t.method === "cash").reduce((n, t) => n + t.paid - t.refunded, 0)))}`
    : "Its payments cannot be read: choose card or other to give it back.";
  $("#view-refunds").replaceChildren(...refunds.map((r) => h("li", { "data-refund-id": r.id },
    `Refunded ${money(r.amount)} (${r.method})${r.reason ? ` · ${r.reason}` : ""}${r.approved_by ? ` · approved by ${userName(r.approved_by)}` : ""}`)));
}

function userName(id) {
  const user = state.catalog.users.find((u) => u.id === id);
  return user ? user.name : "someone no longer on staff";
}

function refund(all) {
  const reason = $("#refund-reason").value.trim();
  if (!reason) return notice("Give a reason for the refund.");
  const body = { user: state.user.id, reason };
  if ($("#refund-method").value) body.method = $("#refund-method").value;
  if (!all) {
    const lines = {};
    for (const input of $("#view-lines").querySelectorAll("input[data-refund]")) {
      const quantity = Number(input.value);
      if (!Number.isInteger(quantity) || quantity < 0 || quantity > Number(input.max)) {
        return notice(`Refund between 0 and ${input.max} of a line.`);
      }
      if (quantity > 0) lines[input.dataset.refund] = quantity;
    }
    if (!Object.keys(lines).length) return notice("Choose how many of a line to refund.");
    body.lines = lines;
  }
  const receipt = viewed.receipt;
  act(async () => {
    const done = await withApproval("POST", `/api/receipts/${receipt.id}/refunds`, body);
    notice(`Refunded ${money(done.amount)} by ${done.method} on receipt ${receipt.number}.`, "info");
    viewed = await loadReceiptView(receipt.id);
    drawReceiptView();
  });
}

$("#refund-form").addEventListener("submit", (event) => { event.preventDefault(); refund(false); });
$("#refund-all").addEventListener("click", () => refund(true));
$("#void-order").addEventListener("click", voidOrder);
