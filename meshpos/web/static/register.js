"use strict";
// The register page: log in by PIN, open a shift, sell from the product grid, pay (cash with change, card,
// split), see receipts and other registers' open orders live. Every change goes through the node's API;
// the page keeps only who is logged in and which order is on screen (per tab, in sessionStorage). The node
// pushes what changed (Mesh.live) and the page fetches only that: a write's own change comes back the same way.

const { api, money, parseMoney, h, $, draw, notice } = Mesh;

const state = {
  user: JSON.parse(sessionStorage.getItem("meshpos-user") || "null"),
  orderId: sessionStorage.getItem("meshpos-order") || "",
  category: "",
  catalog: null,
  shift: null,
  order: null,
  orders: [],
  receipts: [],
  orderSeq: 0, // bumped by every local change of the order on screen
  writing: false, // a write is on its way: its answer, not a fetch, shows the order on screen
  orderStale: false, // the order changed while a write was on its way: fetch it once it answered
  lineDiscount: null, // a line discount chosen for the next item added
};

function setOrder(id) {
  state.orderId = id || "";
  state.orderSeq += 1;
  if (id) sessionStorage.setItem("meshpos-order", id);
  else sessionStorage.removeItem("meshpos-order");
  if (!id) state.order = null;
}

// A write's answer is the newest order there is: a load that started earlier must not undo it.
function takeOrder(order) {
  state.order = order;
  state.orderSeq += 1;
  renderOrder();
}

function showOnly(id) {
  for (const section of ["login", "shift-open", "sell"]) $(`#${section}`).hidden = section !== id;
}

// Writes run one after another (two quick taps must not open two orders). What they change is pushed
// back by the node like anyone else's change, so the page fetches it then (a write's answer, like the
// order after adding a line, is shown at once).
let chain = Promise.resolve();
function act(write) {
  chain = chain.then(async () => {
    state.writing = true;
    try {
      await write();
    } catch (error) {
      notice(error.message);
    } finally {
      state.writing = false;
      if (state.orderStale) {
        state.orderStale = false;
        refresh(["orders"]);
      } else {
        render();
      }
    }
  });
  return chain;
}

// --- loading: one fetch per topic the node says changed ----------------------------------------

const RECENT_RECEIPTS = 10; // how many of today's receipts the register shows
// the drawer's usual opening float, in minor units: 100.00 in euros, 10000 in yen (the page's field
// held "100.00" whatever the currency, which a yen venue's cashier could not open a shift with)
const OPENING_FLOAT = 10000;

const loaders = {
  async menu() {
    state.catalog = await api("GET", "/api/catalog");
    const float = $("#opening-cash");
    const offered = money(OPENING_FLOAT); // (in the currency before: the field holds it unless typed)
    Mesh.setCurrency(state.catalog.currency);
    if (float.value === offered) float.value = money(OPENING_FLOAT);
    Mesh.setZone(state.catalog.timezone);
  },
  async stops() {
    const stopped = await api("GET", "/api/stoplist");
    if (state.catalog) Mesh.markStops(state.catalog, stopped);
  },
  async shift() {
    state.shift = await api("GET", "/api/shifts/current");
  },
  tickets: () => KitchenWatch.load(), // the silent kitchen's warning (kitchen-watch.js)
  async receipts() {
    // only the newest page of today's receipts: what the list shows, however long the day is
    state.receipts = await api("GET", `/api/receipts?limit=${RECENT_RECEIPTS}`);
  },
  async orders() {
    const wanted = state.orderId;
    const seq = state.orderSeq;
    const [orders, order] = await Promise.all([
      api("GET", "/api/orders"),
      wanted ? api("GET", `/api/orders/${wanted}`).catch((e) => (e.status === 404 ? null : Promise.reject(e))) : null,
    ]);
    state.orders = orders;
    if (state.orderSeq !== seq) return; // a write answered meanwhile: its answer is newer
    if (state.writing) {
      state.orderStale = true; // shown once the write answered (a paid order is then no surprise)
      return;
    }
    if (order && order.status !== "open") {
      notice(`Order #${order.id.slice(0, 6)} is ${order.status} now.`, "info");
      setOrder("");
    } else if (wanted && !order) {
      setOrder("");
    } else {
      state.order = order;
    }
  },
};

async function load(topics) {
  // a new catalog brings its stop marks; stops alone are marked on the catalog the page has
  const wanted = Object.keys(loaders).filter((t) => topics.has(t) && !(t === "stops" && topics.has("menu")));
  const jobs = wanted.map((topic) => loaders[topic]());
  // the first event of a (re)connection names every topic; "session" is the minute's check alone
  if (topics.has("menu") || topics.has("session")) jobs.push(checkSignIn());
  await Promise.all(jobs);
  render();
}

// The header names the cashier the node holds signed in, not the one this tab remembers: asked on the
// first load, after a reconnect (a restart of the node ends every sign-in) and each minute (the idle
// end), so a register left on its sell screen shows the PIN login before the next tap is refused, not
// after. The node's "session_ended" answer signs the page out (Mesh.onSessionEnded: signedOut).
async function checkSignIn() {
  if (!state.user) return;
  const user = await Mesh.signedInUser();
  if (user && state.user && user.id === state.user.id) state.user = user;
}

function render() {
  if (!state.catalog || !state.shift) return; // the first pushed event loads both
  $("#venue").textContent = state.catalog.venue_name || state.catalog.receipt_header || "meshpos";
  $("#who").textContent = state.user ? state.user.name : "";
  if (!state.user) {
    renderUsers();
    return showOnly("login");
  }
  if (!state.shift.shift) return showOnly("shift-open");
  showOnly("sell");
  renderProducts();
  renderOrder();
  renderOrders(state.orders);
  renderReceipts(state.receipts);
}

// --- login and shift ----------------------------------------------------------------------------

let chosenUser = "";
function renderUsers() {
  draw("users", [state.catalog.users, chosenUser], drawUsers);
}

function drawUsers() {
  const sellers = state.catalog.users.filter((u) => u.rights.includes("sell"));
  $("#users").replaceChildren(...sellers.map((u) => h("button", {
    type: "button", "data-user": u.id, class: u.id === chosenUser ? "chosen" : "",
    onclick: () => { chosenUser = u.id; renderUsers(); $("#pin").focus(); },
  }, u.name)));
  $("#no-sellers").hidden = sellers.length > 0;  // a new register: say where its staff come from
}

async function login(event) {
  event.preventDefault();
  if (!chosenUser) return notice("Choose who you are first.");
  try {
    const result = await api("POST", "/api/login", { user: chosenUser, pin: $("#pin").value });
    state.user = result.user;
    Mesh.setSession(result.session);
    sessionStorage.setItem("meshpos-user", JSON.stringify(result.user));
  } catch (error) {
    notice(error.message);
  } finally {
    $("#pin").value = "";
  }
  render();
}

function openShift(event) {
  event.preventDefault();
  const cash = parseMoney($("#opening-cash").value);
  if (cash === null) return notice(`Enter the cash in the drawer, e.g. ${money(OPENING_FLOAT)}`);
  act(() => api("POST", "/api/shifts", { user: state.user.id, opening_cash: cash }));
}

// --- product grid -------------------------------------------------------------------------------

function renderProducts() {
  const { categories, products } = state.catalog;
  draw("products", [categories, products, state.category, state.catalog.currency], () => drawProducts(categories, products));
}

function drawProducts(categories, products) {
  // in place (Mesh.keyed): the stop list and the menu change from other devices at any moment, a tap
  // must hold; a tapped product is read from the catalog as it is at the tap (stopped meanwhile: refused)
  Mesh.keyed($("#categories"), ["", ...categories], (c) => c, (c) => h("button", {
    type: "button", "data-category": c, onclick: () => { state.category = c; renderProducts(); },
  }, c || "All"), (button, c) => (button.className = c === state.category ? "chosen" : ""));
  const shown = products.filter((p) => !state.category || p.category === state.category);
  Mesh.keyed($("#products"), shown, (p) => p.id, (p) => h("button", {
    type: "button", "data-product": p.id, onclick: () => choose(state.catalog.products.find((x) => x.id === p.id) || p),
  }), (button, p) => {
    button.className = p.stopped ? "product stopped" : "product";
    if (p.stopped && p.stop) button.title = `Stopped by ${p.stop.user_name} at ${Mesh.when(p.stop.at_ms, true)}`;
    else button.removeAttribute("title");
    button.replaceChildren(h("span", { class: "name" }, p.name), h("span", { class: "price" }, money(p.price)),
      p.stopped ? h("span", { class: "badge" }, "Stopped") : "");
  });
}

function choose(product) {
  if (product.stopped) {
    const by = product.stop ? ` (stopped by ${product.stop.user_name})` : "";
    return notice(`${product.name} is on the stop list${by}.`);
  }
  if (product.modifier_groups.length) return askModifiers(product);
  act(() => addLine(product.id, []));
}

async function addLine(productId, modifiers) {
  if (!state.orderId) {
    const order = await api("POST", "/api/orders", { user: state.user.id });
    setOrder(order.id);
  }
  const discount = state.lineDiscount;
  const body = { user: state.user.id, product_id: productId, modifiers };
  if (discount) body.discount_id = discount.id;
  takeOrder(await withApproval("POST", `/api/orders/${state.orderId}/lines`, body));
  if (discount) setLineDiscount(null);
}

// --- discounts ----------------------------------------------------------------------------------

// Every discount is offered: one this cashier may not give alone (the discount right, and one of the
// roles a discount names; none named: any role with the right) is marked, and asks a manager's approval
// on the spot (withApproval). The node checks the same.
function givable() {
  return state.catalog.discounts;
}

function mayGive(d) {
  const user = state.user;
  return Boolean(user && user.rights.includes("discount") && (!d.roles.length || d.roles.includes(user.role)));
}

function discountName(id) {
  const d = state.catalog.discounts.find((x) => x.id === id);
  return d ? d.name : id;
}

function discountLabel(d) {
  return `${d.name} (${d.kind === "percent" ? `${d.value / 100} %` : money(d.value)})`;
}

function setLineDiscount(discount) {
  state.lineDiscount = discount;
  const note = $("#line-discount");
  note.hidden = !discount;
  note.textContent = discount ? `Next item: ${discountLabel(discount)}` : "";
}

function openDiscounts() {
  const o = state.order;
  $("#discount-choices").replaceChildren(...givable().map((d) => h("button", {
    type: "button", "data-discount": d.id,
    disabled: d.scope === "order" && (!o || !o.lines.length || o.payments.length > 0),
    onclick: () => {
      $("#discount-dialog").close();
      if (d.scope === "line") return setLineDiscount(d);
      act(async () => {
        const body = { user: state.user.id, discount_id: d.id };
        takeOrder(await withApproval("POST", `/api/orders/${state.orderId}/discounts`, body));
      });
    },
    "data-approval": mayGive(d) ? null : "needed",
  }, `${discountLabel(d)} · ${d.scope === "line" ? "next item" : "whole order"}${mayGive(d) ? "" : " · needs approval"}`)));
  $("#discount-dialog").showModal();
}

function askModifiers(product) {
  const groups = state.catalog.modifier_groups.filter((g) => product.modifier_groups.includes(g.id));
  $("#modifiers-title").textContent = product.name;
  $("#modifier-groups").replaceChildren(...groups.map((g) => h("fieldset", { "data-group": g.id },
    h("legend", {}, `${g.name} (${g.min_select === g.max_select ? g.min_select : `${g.min_select}–${g.max_select}`})`),
    ...g.modifiers.map((m, i) => h("label", {},
      h("input", { type: g.max_select === 1 ? "radio" : "checkbox", name: g.id, value: m.id,
        checked: g.min_select > 0 && i === 0 }),
      ` ${m.name}${m.price_delta ? ` +${money(m.price_delta)}` : ""}`)))));
  const dialog = $("#modifiers-dialog");
  dialog.dataset.product = product.id;
  dialog.showModal();
}

function addWithModifiers(event) {
  event.preventDefault();
  const dialog = $("#modifiers-dialog");
  const chosen = [...dialog.querySelectorAll("input:checked")].map((input) => input.value);
  dialog.close();
  act(() => addLine(dialog.dataset.product, chosen));
}

// --- the order ----------------------------------------------------------------------------------

function renderOrder() {
  draw("order", [state.order, state.catalog.currency, state.user && state.user.id, state.catalog.discounts], drawOrder);
}

function drawOrder() {
  const o = state.order;
  $("#order-label").textContent = o ? orderTitle(o) : "(new)";
  $("#order-place").textContent = o && o.split_from ? `Split off order #${o.split_from.slice(0, 6)}` : "";
  const sent = new Set(o ? o.sent_line_ids : []);
  drawLines(o, sent); // register_order.js
  const t = o ? o.totals : null;
  const rows = t ? [["subtotal", "Subtotal"], ["discount", "Discount"], ["tax", "of which tax"], ["total", "Total"],
    ["paid", "Paid"], ["due", "Due"]].filter(([key]) => t[key] || ["total", "due"].includes(key)) : [];
  const discounts = o ? allDiscountNames(o) : "";
  const discountRow = rows.find((row) => row[0] === "discount");
  if (discounts && discountRow) discountRow[1] = `Discount (${discounts})`;
  $("#totals").replaceChildren(...rows.flatMap(([key, label]) => [h("dt", {}, label),
    h("dd", { "data-total": key }, `${money(t[key])} ${state.catalog.currency}`)]));
  const empty = !o || o.lines.length === 0;
  $("#pay-button").disabled = empty || t.due === 0;
  $("#send-kitchen").disabled = empty || o.lines.every((line) => sent.has(line.id));
  $("#discount-button").disabled = givable().length === 0;
  $("#void-order").disabled = !o;
  $("#split-button").disabled = empty || o.lines.reduce((n, line) => n + line.quantity, 0) < 2 || o.payments.length > 0;
}

function renderOrders(orders) {
  draw("orders", [orders, state.orderId, state.catalog?.currency], () => drawOrders(orders));
}

function drawOrders(orders) {
  // in place (Mesh.keyed): other registers change these orders at any moment, a tap must hold
  Mesh.keyed($("#open-orders"), orders, (o) => o.id, (o) => h("li", { "data-order": o.id },
    h("button", { type: "button", onclick: () => { setOrder(o.id); refresh(["orders"]); } })),
  (li, o) => {
    li.className = o.id === state.orderId ? "current" : "";
    li.firstElementChild.textContent = `${orderTitle(o)} · ${money(o.totals.total)} · ${o.register}`;
  });
}

function renderReceipts(receipts) {
  draw("receipts", [receipts, state.catalog?.currency], () => drawReceipts(receipts));
}

function drawReceipts(receipts) {
  const recent = receipts.slice(0, RECENT_RECEIPTS); // newest first, as the node answers
  Mesh.keyed($("#receipts"), recent, (r) => r.id, (r) => h("li", { "data-number": r.number },
    h("button", { type: "button", onclick: () => openReceipt(r.id) })),
  (li, r) => {
    li.firstElementChild.textContent = `${r.number} · ${money(r.total)} · ${Mesh.when(r.issued_at_ms, true)}`;
  });
}

function sendToKitchen() {
  act(async () => {
    const sent = await api("POST", `/api/orders/${state.orderId}/kitchen`, { user: state.user.id });
    notice(sent.ticket ? "Sent to the kitchen." : "Nothing new to send.", "info");
  });
}

// --- payment ------------------------------------------------------------------------------------

function payMethod() {
  return $("#pay-form").querySelector("input[name=method]:checked").value;
}

function openPay() {
  const due = state.order.totals.due;
  // each payment starts as cash, the Tendered field showing, whatever the last one was (a partial card
  // payment left Card chosen and Tendered hidden)
  $("#pay-form").querySelector("input[name=method][value=cash]").checked = true;
  $("#pay-due").textContent = `${money(due)} ${state.catalog.currency}`;
  $("#pay-amount").value = money(due);
  $("#pay-tip").value = money(0); // (was "0.00": refused in yen, so a yen venue could not be paid)
  $("#pay-tendered").value = money(due);
  updateChange();
  $("#pay-dialog").showModal();
}

function updateChange() {
  const [amount, tip, tendered] = ["#pay-amount", "#pay-tip", "#pay-tendered"].map((s) => parseMoney($(s).value));
  $("#pay-dialog").dataset.method = payMethod();
  const change = amount === null || tip === null || tendered === null ? -1 : tendered - tip - amount;
  $("#pay-change").textContent = change < 0 ? "—" : money(change);
}

function pay(event) {
  event.preventDefault();
  const method = payMethod();
  const amount = parseMoney($("#pay-amount").value);
  const tip = parseMoney($("#pay-tip").value);
  const tendered = parseMoney($("#pay-tendered").value);
  if (amount === null || tip === null || (method === "cash" && tendered === null)) {
    return notice(`Enter amounts like ${money(1250)}`);
  }
  const body = { user: state.user.id, method, amount, tip };
  if (method === "cash") body.tendered = tendered;
  $("#pay-dialog").close();
  const order = state.order; // its lines' modifiers and discounts, for the receipt
  act(async () => {
    const result = await api("POST", `/api/orders/${state.orderId}/payments`, body);
    if (result.receipt) {
      setOrder("");
      showReceipt(result, order);
    } else {
      notice(`Paid ${money(result.payment.amount)}; the rest is still due.`, "info");
    }
  });
}

// The receipt as the guest gets it: each line with its modifiers and discount (from the order that was
// paid: the receipt keeps amounts), the order's discounts, the total, and how the last payment was made.
function showReceipt({ receipt, change, payment }, order) {
  $("#receipt-number").textContent = receipt.number;
  // the venue's receipt header and footer, as set at the console (Settings)
  $("#receipt-header").textContent = state.catalog.receipt_header;
  $("#receipt-footer").textContent = state.catalog.receipt_footer;
  $("#receipt-lines").replaceChildren(...receipt.lines.map((line) => receiptLine(line, order)));
  const orderDiscounts = order ? allDiscountNames(order) : "";
  $("#receipt-totals").replaceChildren(
    ...(receipt.discount ? [h("dt", {}, "Subtotal"), h("dd", {}, money(receipt.subtotal)),
      h("dt", {}, orderDiscounts ? `Discounts (${orderDiscounts})` : "Discounts"),
      h("dd", { "data-total": "discount" }, `−${money(receipt.discount)}`)] : []),
    h("dt", {}, "Total"), h("dd", { "data-total": "total" }, `${money(receipt.total)} ${state.catalog.currency}`),
    h("dt", {}, "of which tax"), h("dd", {}, money(receipt.tax)),
    h("dt", {}, `Last payment (${payment.method})`), h("dd", {}, money(payment.amount + payment.tip)),
    ...(payment.method === "cash" ? [h("dt", {}, "Tendered"), h("dd", { "data-total": "tendered" }, money(payment.tendered))] : []),
    h("dt", {}, "Change"), h("dd", { "data-total": "change" }, money(change)));
  $("#receipt-dialog").showModal();
}

// --- menu ---------------------------------------------------------------------------------------

// A modal dialog's answer: ``read()`` on submit (``undefined``: stay open, e.g. a field missing), null
// when it is closed any other way. One listener set per question, removed once answered.
function answerOf(dialog, form, read, done = () => {}) {
  dialog.showModal();
  return new Promise((resolve) => {
    const listeners = new AbortController();
    const finish = (value) => {
      listeners.abort();
      done();
      resolve(value);
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = read();
      if (value === undefined) return;
      finish(value);
      dialog.close();
    }, { signal: listeners.signal });
    dialog.addEventListener("close", () => finish(null), { signal: listeners.signal });
  });
}

function askAmount(title, label, initial) {
  $("#amount-title").textContent = title;
  $("#amount-label").textContent = label;
  $("#amount-input").value = initial;
  return answerOf($("#amount-dialog"), $("#amount-form"), () => parseMoney($("#amount-input").value));
}

function closeMenu() {
  $("#menu").hidden = true;
  $("#menu-button").setAttribute("aria-expanded", "false");
}

async function clearCache() {
  closeMenu();
  try {
    const result = await api("POST", "/api/clear-cache");
    notice(result.message, "info");
  } catch (error) {
    notice(error.message);
  }
}

async function closeShift() {
  closeMenu();
  const expected = state.shift && state.shift.expected_cash; // null under the venue's blind count
  const counted = await askAmount("Close shift", "Counted cash", expected === null || expected === undefined ? "" : money(expected));
  if (counted !== null) act(() => api("POST", "/api/shifts/current/close", { user: state.user.id, counted_cash: counted }));
}

async function moveCash(kind) {
  closeMenu();
  const amount = await askAmount(kind === "in" ? "Cash in" : "Cash out", "Amount", "");
  if (amount !== null) act(() => api("POST", "/api/shifts/current/cash-moves", { user: state.user.id, kind, amount }));
}

// The sign-in ended (logout, or the node says so: idle, a restart): the PIN login again.
function signedOut() {
  Mesh.setSession("");
  state.user = null;
  sessionStorage.removeItem("meshpos-user");
  setOrder("");
  render();
}

// --- start --------------------------------------------------------------------------------------

const refresh = Mesh.refresher(load);

function bind() {
  Mesh.setupChrome();
  $("#pin-form").addEventListener("submit", login);
  $("#shift-form").addEventListener("submit", openShift);
  $("#modifiers-form").addEventListener("submit", addWithModifiers);
  $("#pay-form").addEventListener("submit", pay);
  $("#pay-form").addEventListener("input", updateChange);
  $("#pay-button").addEventListener("click", openPay);
  $("#send-kitchen").addEventListener("click", sendToKitchen);
  $("#discount-button").addEventListener("click", openDiscounts);
  $("#new-order").addEventListener("click", () => { setOrder(""); render(); });
  $("#receipt-done").addEventListener("click", () => $("#receipt-dialog").close());
  $("#clear-cache").addEventListener("click", clearCache);
  $("#close-shift").addEventListener("click", closeShift);
  $("#cash-in").addEventListener("click", () => moveCash("in"));
  $("#cash-out").addEventListener("click", () => moveCash("out"));
  $("#logout").addEventListener("click", () => {
    closeMenu();
    api("POST", "/api/logout").catch(() => {});  // ends it on the node; the page forgets it now
    signedOut();
  });
  Mesh.onSessionEnded(signedOut);
  for (const button of document.querySelectorAll("dialog .cancel")) {
    button.addEventListener("click", () => button.closest("dialog").close());
  }
}

if (Mesh.requireToken()) {
  bind();
  Mesh.live(refresh); // its first event names every topic: that is the page's first load
  setInterval(() => refresh(["session"]), 60 * 1000);
}
