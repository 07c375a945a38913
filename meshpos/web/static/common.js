"use strict";
// Shared by the register and kitchen pages: the API token, JSON calls, money, the sync indicator and live
// updates. No framework and no build step: the node serves these files as they are.

const Mesh = (() => {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";
  const token = meta("meshpos-token") || sessionStorage.getItem("meshpos-token") || "";
  const node = meta("meshpos-node");
  // The sign-in POST /api/login answered: the page token's writes carry it (X-Meshpos-Session) and name
  // its user. When the node says it ended (logout elsewhere, idle, a restart), `onSessionEnded` runs:
  // the register page shows its PIN login again.
  let session = sessionStorage.getItem("meshpos-session") || "";
  let onSessionEnded = () => {};
  function setSession(value) {
    session = value || "";
    if (session) sessionStorage.setItem("meshpos-session", session);
    else sessionStorage.removeItem("meshpos-session");
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // One JSON call; an error answer becomes an ApiError carrying the API's stable code and message.
  // A write carries an Idempotency-Key made for this one call (one tap): when the node does not answer
  // (Wi-Fi, a restart) it is sent again with the same key, so the node writes it at most once and
  // answers the first answer (docs/api.md, Retries); a new tap is a new call and a new key.
  const WRITES = new Set(["POST", "PUT", "DELETE"]);
  const RETRIES = 3;
  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  // `signed`: a read that asks about the sign-in itself (GET /api/session) carries the session too.
  let writing = 0; // writes under way (Mesh.busy(): a logout's, a tap's, until the node answered)
  async function api(method, path, body, signed = false) {
    if (!WRITES.has(method)) return call(method, path, body, signed);
    writing += 1;
    try {
      return await call(method, path, body, signed);
    } finally {
      writing -= 1;
    }
  }
  async function call(method, path, body, signed) {
    const init = { method, headers: { Authorization: `Bearer ${token}` } };
    const write = WRITES.has(method);
    if (write) init.headers["Idempotency-Key"] = newKey();
    if ((write || signed) && session) init.headers["X-Meshpos-Session"] = session;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await fetch(path, init);
      } catch {
        if (write && attempt < RETRIES) {
          await pause(300 * (attempt + 1));
          continue;  // the same key: written at most once
        }
        throw new ApiError(0, "unreachable", "This device's node does not answer.");
      }
      const data = await response.json().catch(() => null);
      if (!response.ok) {
        const error = (data && data.error) || {};
        if (error.code === "idempotency_key_in_progress" && attempt < RETRIES) {
          await pause(300 * (attempt + 1));
          continue;
        }
        if (error.code === "session_ended" || error.code === "session_required") {
          setSession("");
          onSessionEnded();
        }
        throw new ApiError(response.status, error.code || "http", error.message || response.statusText);
      }
      return data;
    }
  }

  // Who the node holds signed in with this page's session, or null when that sign-in has ended (idle, a
  // restart, a logout elsewhere: `onSessionEnded` has run by then). Both pages ask it at load, after a
  // reconnect and each minute, so their header never names a user the node signed out;
  // GET /api/session does not keep a sign-in alive, so asking never keeps a forgotten one going.
  async function signedInUser() {
    try {
      return (await api("GET", "/api/session", undefined, true)).user;
    } catch (error) {
      if (error.code === "session_ended" || error.code === "session_required") return null;
      throw error;
    }
  }

  // Money is integer minor units everywhere; only these functions see decimals, as many as the venue's
  // currency has (its ISO 4217 minor unit: JPY 0, EUR 2, KWD 3), read from the browser's Intl data
  // once the catalog names the currency (setCurrency); an unknown code keeps two.
  let digits = 2;
  function currencyDigits(code) {
    try {
      return new Intl.NumberFormat("en", { style: "currency", currency: code }).resolvedOptions().maximumFractionDigits;
    } catch (_) {
      return 2;
    }
  }
  function setCurrency(code) {
    digits = currencyDigits(code);
  }

  // Moments on the venue's clock (its settings' time zone, from the catalog: setZone), not the device's:
  // a tablet left on UTC in a Kolkata venue showed receipts and shifts 5.5 h off the wall clock
  let zone;
  function setZone(name) {
    zone = name || undefined;
  }
  function when(ms, timeOnly) {
    const options = timeOnly ? { hour: "2-digit", minute: "2-digit", timeZone: zone } : { timeZone: zone };
    try {
      return new Date(ms).toLocaleString([], options);
    } catch (_) { // a zone this browser does not know: the device's
      return new Date(ms).toLocaleString([], { ...options, timeZone: undefined });
    }
  }

  function money(minor) {
    const sign = minor < 0 ? "-" : "";
    const abs = Math.abs(minor);
    if (!digits) return `${sign}${abs}`;
    const scale = 10 ** digits;
    return `${sign}${Math.floor(abs / scale)}.${String(abs % scale).padStart(digits, "0")}`;
  }

  function parseMoney(text) {
    const m = /^\s*(\d{1,9})(?:[.,](\d*))?\s*$/.exec(text || "");
    if (!m || (m[2] || "").length > digits) return null;
    return Number(m[1]) * 10 ** digits + Number((m[2] || "").padEnd(digits, "0") || "0");
  }

  // h("li", {class: "x", "data-id": id, onclick: f}, "text", child) builds an element.
  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "class") el.className = value;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) el.append(child);
    }
    return el;
  }

  const $ = (selector) => document.querySelector(selector);

  // Rebuild a region only when its data changed. Replacing a button between a finger's press and
  // release loses the tap (click needs both on one element), and live updates arrive at any moment.
  const drawn = new Map();
  function draw(region, data, render) {
    const signature = JSON.stringify(data);
    if (drawn.get(region) === signature) return;
    drawn.set(region, signature);
    render();
  }

  // A live list redrawn in place: the element of an item that stays (same key) is kept and updated,
  // never replaced, so a tap whose press and release straddle a redraw still clicks (a list of other
  // registers' orders changes whenever they sell). `make(item)` builds an item's element,
  // `update(el, item)` brings it up to date. Gone items leave first, so that a kept element is moved
  // only when the order changes: Chromium drops a press on an element that was moved (re-inserted) as
  // on one replaced, and a replaced item's old element left in place would move every element after it.
  function keyed(list, items, key, make, update) {
    const old = new Map([...list.children].map((el) => [el.dataset.key, el]));
    const keys = items.map((item) => String(key(item)));
    const wanted = new Set(keys);
    for (const [k, el] of old) {
      if (!wanted.has(k)) {
        el.remove();
        old.delete(k);
      }
    }
    let at = list.firstElementChild;
    items.forEach((item, i) => {
      const k = keys[i];
      let el = old.get(k);
      old.delete(k); // a key twice: the second gets an element of its own
      if (!el) {
        el = make(item);
        el.dataset.key = k;
      }
      update(el, item);
      if (el === at) at = at.nextElementSibling;
      else list.insertBefore(el, at);
    });
  }

  let noticeTimer = 0;
  function notice(message, kind = "error") {
    const box = $("#notice");
    box.textContent = message;
    box.className = `notice ${kind}`;
    box.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => (box.hidden = true), kind === "error" ? 12000 : 4000);
  }

  // --- the sync indicator: colour from the node's status, details on tap ----------------------
  const COLOUR_TEXT = {
    green: "Connected to the console",
    yellow: "Other devices reachable, no console",
    gray: "On its own: no other device, no console",
  };

  function showStatus(status) {
    const button = $("#sync");
    button.dataset.colour = status.colour;
    button.className = `sync ${status.colour}`;
    // the node words the badge: "Synced" only when green and nothing is missing at the console
    $("#sync-label").textContent = status.offline ? "Offline" : status.label;
    const peers = Object.entries(status.peers || {});
    $("#sync-message").textContent = status.message;
    $("#sync-colour").textContent = status.offline ? "This page cannot reach its node" : COLOUR_TEXT[status.colour];
    $("#sync-peers").textContent = peers.length
      ? peers.map(([id, live]) => `${id}${live ? "" : " (connecting)"}`).join(", ")
      : "none";
    $("#sync-relay").textContent = status.relay ? `${status.relay}${status.is_relay ? " (this device)" : ""}` : "none";
    $("#sync-pending").textContent = status.pending ?? "unknown";
    // a clock hours off files every sale under the wrong day: said until the console's clock agrees
    // (the node compares them on every probe of its uplink), or without one most linked peers' do
    // (read when each link opens; ops/clock.py)
    const clock = $("#clock-warning");
    if (clock && !status.offline) {
      clock.hidden = !status.clock;
      clock.textContent = status.clock ? `Clock: ${status.clock}` : "";
    }
    // a shift left open past its business day keeps every day since in memory on every device and
    // its X reads them all: "shift open since <date>: close it" until it is closed (shift_overdue)
    const shift = $("#shift-warning");
    if (shift && !status.offline) {
      shift.hidden = !status.shift;
      shift.textContent = status.shift ? `Shift: ${status.shift}` : "";
    }
    // a certificate ending within 30 days: after it no device or console links with this one, and
    // only the doctor (which a cashier never runs) said so (ops/clock.certificate_ending)
    const certificate = $("#certificate-warning");
    if (certificate && !status.offline) {
      certificate.hidden = !status.certificate;
      certificate.textContent = status.certificate ? `Certificate: ${status.certificate}` : "";
    }
    const durable = $("#sync-durable");
    if (durable) {
      const sale = status.latest_sale;
      durable.textContent = sale
        ? `${sale.receipt}: on ${sale.devices} of ${sale.of} devices, console ${sale.console ? "has it" : "pending"}`
        : "none since this device started";
    }
  }

  function toggle(panel, button) {
    panel.hidden = !panel.hidden;
    if (button) button.setAttribute("aria-expanded", String(!panel.hidden));
  }

  // Live updates: the node pushes "changed" naming what changed (orders, receipts, shift, tickets, menu,
  // stops, status) and the page fetches only that; the status comes in the event itself. The first event
  // of a connection names everything. EventSource reconnects by itself; until it does the indicator
  // says the page lost its node. `Mesh.pushed` keeps the events received, for tests and for people.
  const pushed = [];
  function live(onChange) {
    const events = new EventSource(`/api/events?token=${encodeURIComponent(token)}`);
    events.addEventListener("changed", (event) => {
      const data = JSON.parse(event.data);
      pushed.push(data.changed);
      pushed.splice(0, pushed.length - 50);
      if (data.status) showStatus(data.status);
      onChange(data.changed);
    });
    events.addEventListener("error", () => {
      showStatus({ colour: "gray", offline: true, pending: null, peers: {}, relay: null,
        message: "Lost contact with this device's node; reconnecting…" });
    });
    return events;
  }

  // Runs `load(topics)` for the topics asked for, never two at once; topics asked for while it runs are
  // folded into one more run. Topics whose load failed are loaded again with the next ones asked for.
  let loading = 0; // refreshers running now (Mesh.busy(): the page is fetching what changed, or writing)
  function refresher(load) {
    let running = false;
    const due = new Set();
    const failed = new Set();
    return async function refresh(topics) {
      for (const topic of topics) due.add(topic);
      if (running) return;
      running = true;
      loading += 1;
      try {
        while (due.size) {
          const now = new Set([...due, ...failed]);
          due.clear();
          failed.clear();
          try {
            await load(now);
          } catch (error) {
            for (const topic of now) failed.add(topic);
            notice(error.message);
          }
        }
      } finally {
        running = false;
        loading -= 1;
      }
    };
  }

  // Without a token (the page was not opened on this machine) ask for the one in api.token.
  function requireToken() {
    if (token) return true;
    const input = h("input", { id: "token", autocomplete: "off", size: 40 });
    const form = h("form", { class: "card token", onsubmit: (event) => {
      event.preventDefault();
      sessionStorage.setItem("meshpos-token", input.value.trim());
      location.reload();
    } }, h("h2", {}, "API token"),
      h("p", {}, "This page was not opened on the device itself. Enter the token from <data_dir>/api.token."),
      input, h("button", { class: "primary" }, "Use token"));
    document.querySelector("main").replaceChildren(form);
    return false;
  }

  function setupChrome() {
    $("#sync").addEventListener("click", () => toggle($("#sync-panel"), $("#sync")));
    $("#menu-button")?.addEventListener("click", () => toggle($("#menu"), $("#menu-button")));
    $("#notice").addEventListener("click", () => ($("#notice").hidden = true));
  }

  // The stop marks of a catalog's products, from GET /api/stoplist (only the stopped items are listed).
  function markStops(catalog, stopped) {
    const byId = new Map(stopped.map((view) => [view.product_id, view]));
    catalog.products = catalog.products.map((p) => ({ ...p, stopped: byId.has(p.id), stop: byId.get(p.id) || null }));
  }

  return { api, signedInUser, setSession, onSessionEnded: (callback) => { onSessionEnded = callback; }, money, parseMoney, setCurrency, setZone, when, h, $, draw, keyed, notice, showStatus, live, pushed, refresher, busy: () => loading > 0 || writing > 0, markStops, requireToken, setupChrome, toggle, node, ApiError };
})();
