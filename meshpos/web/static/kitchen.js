"use strict";
// The kitchen screen: today's tickets as cards with their age; bump moves a ticket on, recall moves it
// back (the node checks the transition table); items can be stopped from here when they run out.
// A cook signs in with their PIN (POST /api/login, at the kitchen): every move goes in the signed-in cook's
// name, the header says who that is, and the next cook's sign-in is the hand-over (meshpos/web/sessions.py).

const { api, h, $, draw, notice } = Mesh;

const ACTION_LABEL = {
  "new:bump": "Start cooking",
  "cooking:bump": "Ready",
  "ready:bump": "Served",
  "ready:recall": "Recall",
  "served:recall": "Recall",
};

// who is signed in (per tab, beside its session: Mesh.setSession); null: nobody, the board only shows
const state = { board: null, catalog: null, clockOffset: 0, cook: JSON.parse(sessionStorage.getItem("meshpos-cook") || "null") };

// Only what the node says changed is fetched (Mesh.live): tickets, the menu (cooks and items), stops.
async function loadTickets() {
  const states = $("#show-served").checked ? "" : "new,cooking,ready";
  const board = await api("GET", `/api/kitchen/tickets?states=${states}`);
  state.board = board;
  state.clockOffset = board.now_ms - Date.now(); // ages use the node's clock, not this screen's
}

async function load(topics) {
  const jobs = [];
  if (topics.has("tickets")) jobs.push(loadTickets());
  // the first event of a (re)connection names every topic; "session" is the minute's check alone
  if (topics.has("menu") || topics.has("session")) jobs.push(checkSignIn());
  if (topics.has("menu")) {
    jobs.push(api("GET", "/api/catalog").then((catalog) => (state.catalog = catalog)));
  } else if (topics.has("stops") && state.catalog) {
    jobs.push(api("GET", "/api/stoplist").then((stopped) => Mesh.markStops(state.catalog, stopped)));
  }
  await Promise.all(jobs);
  if (!state.board || !state.catalog) return; // the first pushed event loads both
  renderCook();
  renderStations();
  renderTickets();
  renderStops();
}

// --- who is cooking -------------------------------------------------------------------------------

function renderCook() {
  const cook = state.cook;
  $("#cook").dataset.user = cook ? cook.id : "";
  $("#cook-name").textContent = cook ? cook.name : "Nobody signed in";
  $("#hand-over").textContent = cook ? "Hand over" : "Sign in";
  $("#sign-out").hidden = !cook;
  if (!cook) openSignIn();
  draw("cooks", [state.catalog.users, chosenCook, cook && cook.id], drawCooks);
}

// Any of the venue's users may sign in here (a kitchen move needs no right); the cooks are listed first.
let chosenCook = "";
function drawCooks() {
  const users = [...state.catalog.users].sort((a, b) => (a.rights.length > 0) - (b.rights.length > 0));
  $("#cooks").replaceChildren(...users.filter((u) => !state.cook || u.id !== state.cook.id).map((u) => h("button", {
    type: "button", "data-user": u.id, class: u.id === chosenCook ? "chosen" : "",
    onclick: () => { chosenCook = u.id; renderCook(); $("#cook-pin").focus(); },
  }, u.name)));
  $("#no-cooks").hidden = state.catalog.users.length > 0; // a new venue: say where its staff come from
}

function openSignIn() {
  $("#sign-in").hidden = false;
  $("#sign-in-title").textContent = state.cook ? `Hand over from ${state.cook.name} to…` : "Who is cooking?";
  $("#cook-cancel").hidden = !state.cook;
}

function closeSignIn() {
  chosenCook = "";
  $("#cook-pin").value = "";
  $("#sign-in").hidden = !!state.cook;
  if (state.catalog) renderCook();
}

// The next cook's PIN ends the sign-in the screen had, in the same call, once it is right (a wrong PIN
// leaves the screen signed in as it was).
async function signIn(event) {
  event.preventDefault();
  if (!chosenCook) return notice("Tap your name first.");
  try {
    const result = await api("POST", "/api/login", { user: chosenCook, pin: $("#cook-pin").value, at: "kitchen" });
    Mesh.setSession(result.session);
    setCook(result.user);
    closeSignIn();
  } catch (error) {
    $("#cook-pin").value = "";
    notice(error.message);
  }
}

async function signOut() {
  try {
    await api("POST", "/api/logout");
  } catch (error) {
    notice(error.message); // the node may be restarting: the screen forgets the sign-in all the same
  }
  signedOut();
}

// The header names the cook the node holds signed in, not the one this tab remembers: asked on the
// first load, after a reconnect (a restart ends every sign-in) and each minute (the idle end), with no
// tap needed to find out. The node's "session_ended" answer signs the screen out (Mesh.onSessionEnded).
async function checkSignIn() {
  if (!state.cook) return;
  const user = await Mesh.signedInUser();
  if (user && state.cook && user.id === state.cook.id) setCook(user);
}

function setCook(user) {
  state.cook = user ? { id: user.id, name: user.name } : null;
  if (state.cook) sessionStorage.setItem("meshpos-cook", JSON.stringify(state.cook));
  else sessionStorage.removeItem("meshpos-cook");
}

// Signed out here, or the node says the sign-in ended (idle, a restart, the user removed).
function signedOut() {
  Mesh.setSession("");
  setCook(null);
  closeSignIn();
}

// A move in the signed-in cook's name; signed out, the tap opens the sign-in and does nothing else.
function cook() {
  if (state.cook) return state.cook.id;
  openSignIn();
  throw new Error("Sign in with your PIN first: kitchen moves go in the name of the cook signed in.");
}

// Kitchen routing: a screen at the grill shows the grill's items (and those routed nowhere in particular);
// the stations are the ones the console gave products. The choice is kept per screen.
function renderStations() {
  const stations = [...new Set(state.catalog.products.map((p) => p.kitchen).filter(Boolean))].sort();
  draw("stations", stations, () => {
    const select = $("#station");
    const chosen = select.value || localStorage.getItem("meshpos-station") || "";
    select.replaceChildren(h("option", { value: "" }, "All stations"),
      ...stations.map((s) => h("option", { value: s }, s)));
    select.value = stations.includes(chosen) ? chosen : "";
  });
}

function forStation(tickets) {
  const station = $("#station").value;
  if (!station) return tickets;
  return tickets
    .map((t) => ({ ...t, items: t.items.filter((item) => !item.station || item.station === station) }))
    .filter((t) => t.items.length > 0);
}

function age(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function renderTickets() {
  // ages move on every fetch; tick() shows them, so they do not count as a change here
  const shown = forStation(state.board.tickets);
  const tickets = shown.map(({ age_ms, ...rest }) => rest);
  draw("tickets", [tickets, $("#station").value], () => drawTickets(shown));
}

function drawTickets(tickets) {
  $("#no-tickets").hidden = tickets.length > 0;
  // in place (Mesh.keyed): a cook's tap on one ticket holds while other tickets change (another screen
  // bumps, a register sends or voids); a void is struck through, its one button clears it (to served)
  Mesh.keyed($("#tickets"), tickets, (t) => t.id, (t) => h("article", { "data-ticket": t.id },
    h("header", {}, h("strong", { class: "label" }), h("span", { class: "age" }), h("span", { class: "state" })),
    h("ul", {}), h("footer", {})), updateTicket);
  tick();
}

function updateTicket(card, t) {
  card.className = `ticket ${t.state}${t.void ? " void" : ""}`;
  Object.assign(card.dataset, { state: t.state, void: String(t.void), created: t.created_at_ms });
  card.querySelector(".label").textContent = t.label;
  card.querySelector(".state").textContent = t.void ? "void" : t.state;
  // the items hold no buttons: rebuilt whole
  card.querySelector("ul").replaceChildren(...t.items.map((item) => h("li", {
    "data-station": item.station || "", "data-void": String(item.void), class: item.void ? "void" : "",
  }, `${item.quantity} × ${item.name}`,
  item.void ? h("small", { class: "void-mark" }, " VOID") : null,
  item.station ? h("small", { class: "station" }, ` → ${item.station}`) : null,
  item.modifiers.length ? h("small", {}, item.modifiers.join(", ")) : null)));
  // a button is keyed by the state it moves the ticket from: kept while other tickets change, replaced
  // when this one moved (a tap on "Start cooking" never lands as "Ready" after another cook's bump)
  const from = [`${t.register}`, t.waiter, t.held_by.length ? `on ${t.held_by.join(", ")}` : ""].filter(Boolean).join(" · ");
  const phase = `${t.state}:${t.void}`;
  Mesh.keyed(card.querySelector("footer"), [null, ...t.actions], (action) => (action ? `${phase}:${action}` : "from"),
    (action) => (action ? h("button", {
      type: "button", class: action === "bump" ? `primary ${action}` : action, "data-action": action,
      onclick: () => move(t.id, action, t.state),
    }, (t.void ? "Clear" : ACTION_LABEL[`${t.state}:${action}`]) || action) : h("small", { class: "from" })),
    (el, action) => { if (!action) el.textContent = from; });
}

// Ages advance every second without asking the node.
function tick() {
  const now = Date.now() + state.clockOffset;
  for (const card of document.querySelectorAll("article.ticket")) {
    const ms = now - Number(card.dataset.created);
    card.querySelector(".age").textContent = age(ms);
    card.classList.toggle("late", ms > 10 * 60 * 1000 && card.dataset.state !== "served" && card.dataset.void !== "true");
  }
}

// `from`: the state the card showed. A second tap before the card is redrawn (a double tap, another tab
// of this screen) finds the ticket moved on and changes nothing, instead of moving it once more.
async function move(ticketId, action, from) {
  try {
    await api("POST", `/api/kitchen/tickets/${ticketId}/${action}`, { user: cook(), from });
  } catch (error) {
    notice(error.message);
  }
}

function renderStops() {
  draw("stops", state.catalog.products, drawStops);
}

function drawStops() {
  // in place (Mesh.keyed), an item keyed by its stop mark: a tap holds while other items are stopped,
  // and is dropped when this item's own mark changed under the finger (the button means the other thing now)
  Mesh.keyed($("#stop-items"), state.catalog.products, (p) => `${p.id}:${p.stopped}`, (p) => h("li", {
    "data-product": p.id, class: p.stopped ? "stopped" : "",
  }, h("span", {}),
  h("button", { type: "button", "data-product": p.id, onclick: () => setStop(p.id, !p.stopped) },
    p.stopped ? "Available again" : "Stop")),
  (li, p) => li.firstElementChild.replaceChildren(p.name, p.stopped && p.stop ? h("small", {}, ` stopped by ${p.stop.user_name}`) : ""));
}

async function setStop(productId, stopped) {
  try {
    // the id in the path as one segment: an id may hold "#", "?" or "%" (the console allows all but "/")
    await api("PUT", `/api/stoplist/${encodeURIComponent(productId)}`, { user: cook(), stopped });
  } catch (error) {
    notice(error.message);
  }
}

const refresh = Mesh.refresher(load);

if (Mesh.requireToken()) {
  Mesh.setupChrome();
  $("#stops-button").addEventListener("click", () => Mesh.toggle($("#stops"), $("#stops-button")));
  $("#show-served").addEventListener("change", () => refresh(["tickets"]));
  $("#hand-over").addEventListener("click", openSignIn);
  $("#sign-out").addEventListener("click", signOut);
  $("#cook-cancel").addEventListener("click", closeSignIn);
  $("#cook-pin-form").addEventListener("submit", signIn);
  Mesh.onSessionEnded(signedOut);
  // a session without its cook is none of this screen's (the register page's, in the same tab)
  if (!state.cook || !sessionStorage.getItem("meshpos-session")) signedOut();
  $("#station").addEventListener("change", () => {
    localStorage.setItem("meshpos-station", $("#station").value);
    renderTickets();
  });
  setInterval(tick, 1000);
  setInterval(() => refresh(["session"]), 60 * 1000);
  Mesh.live(refresh); // its first event names every topic: that is the screen's first load
}
