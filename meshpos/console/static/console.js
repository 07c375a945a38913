// The console page's shell: sign-in with the admin token, the venue (its name in the header), the tabs
// (Status, Menu, Staff, Settings, Reports, Audit), and the Status tab. Every tab refreshes every two seconds
// while it is shown.
//
// Where the admin token is kept, and why there: in this tab's sessionStorage ("meshpos-console-token"),
// after the sign-in form checked it against the console. Not in a cookie: the browser would attach a cookie
// to every request to the console, including ones another site's page makes it send, while a token this
// page puts in an Authorization header itself goes only with this page's own requests (the API reads no
// cookie). Not in localStorage: the sign-in ends with the tab, so a shared back-office PC does not stay
// signed in. The page's Content-Security-Policy runs no script but the console's own, which keeps other
// code from reading it. A link with ?token= (the demo prints one) signs in once and is removed from the
// address bar. On disk the token is the file `meshpos console` names when it starts (--token-file).
//
// Other page scripts (console_menu.js, console_reports.js) fill their tabs through `window.meshposConsole`:
//   api(path, {method, body}) -> the JSON answer (throws an Error with .code and .status; a 401 signs out)
//   venue                     -> the chosen venue {id, name, currency, timezone}
//   when(ms)                  -> a moment on the venue's clock, e.g. "06/12/2026, 15:30:00"
//   money(minorUnits)         -> the amount in the venue's currency, e.g. "€2.50"
//   onShow(tab, fn)           -> fn(venue) runs when the tab is shown, the venue changes, and every 2 s
//   element(tag, text, attrs) -> a DOM element with textContent (never innerHTML)
// and a "meshpos:venue" event on document (detail: the venue's id) says when the venue is chosen.
"use strict";
const TOKEN_KEY = "meshpos-console-token";
const TABS = ["status", "menu", "staff", "settings", "reports", "audit"];

let venue = null; // the chosen venue's id, for page scripts that read this global (shell.venue is whole)
const shell = {
  token: "",
  venue: null,
  tab: "status",
  shows: {},
  onShow(tab, fn) { (this.shows[tab] ||= []).push(fn); },
  async api(path, options = {}) {
    const init = { method: options.method || "GET", headers: { Authorization: `Bearer ${this.token}` } };
    if (options.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    const response = await fetch(path, init);
    const isJson = (response.headers.get("content-type") || "").startsWith("application/json");
    const body = isJson ? await response.json() : await response.text();
    if (!response.ok) {
      const error = new Error(body && body.error ? body.error.message : response.statusText);
      error.code = body && body.error ? body.error.code : "";
      error.status = response.status;
      if (response.status === 401) signOut("The console refused the token; sign in again.");
      throw error;
    }
    return body;
  },
  // A moment as the venue's people read it: on the venue's clock (its settings' time zone), not the
  // browser's (a chain's manager elsewhere read a Dubai venue's receipts in London time, and the hour
  // report, which counts in the venue's hours, disagreed with them)
  when(ms) {
    if (!ms) return "";
    const timeZone = (this.venue && this.venue.timezone) || undefined;
    try {
      return new Date(ms).toLocaleString(undefined, { timeZone });
    } catch (_) {
      return new Date(ms).toLocaleString(); // a zone this browser does not know
    }
  },
  money(cents) {
    const currency = (this.venue && this.venue.currency) || "EUR";
    let format;
    try {
      format = new Intl.NumberFormat(undefined, { style: "currency", currency });
    } catch (_) {
      format = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2 });
    }
    return format.format(cents / 10 ** this.currencyDigits(currency));
  },
  // The currency's minor unit (ISO 4217: JPY 0, EUR 2, KWD 3) from the browser's Intl data: how many
  // decimals an amount has, shown or typed; an unknown code keeps two.
  currencyDigits(code) {
    try {
      return new Intl.NumberFormat("en", { style: "currency", currency: code }).resolvedOptions().maximumFractionDigits;
    } catch (_) {
      return 2;
    }
  },
  // the venue's summary again (its name in the header, its currency) after a page script changed its settings
  async reloadVenue() {
    if (!venue) return;
    this.venue = await this.api(`/api/venues/${encodeURIComponent(venue)}`);
    showVenue();
  },
  element(tag, text, attrs = {}) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    return node;
  },
};
window.meshposConsole = shell;

// --- sign-in -------------------------------------------------------------------------------------------

function showLogin(message) {
  document.getElementById("app").hidden = true;
  document.getElementById("login").hidden = false;
  const error = document.getElementById("login-error");
  error.textContent = message || "";
  error.hidden = !message;
  document.getElementById("token").focus();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  shell.token = "";
  showLogin(message);
}

async function signIn(token) {
  shell.token = token;
  let ids;
  try {
    ids = await shell.api("/api/venues");
  } catch (error) {
    if (error.status !== 401) showLogin(`The console does not answer: ${error.message}`);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  const venues = ids.length > 1 ? await shell.api("/api/chain") : ids.map((id) => ({ id, name: id }));
  const pick = document.getElementById("venue-pick");
  pick.replaceChildren(...venues.map((v) => shell.element("option", v.name, { value: v.id })));
  pick.hidden = venues.length < 2;
  pick.onchange = () => choose(pick.value);
  document.getElementById("login").hidden = true;
  document.getElementById("app").hidden = false;
  await choose(venues.length ? venues[0].id : null);
}

document.getElementById("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = document.getElementById("token").value.trim();
  document.getElementById("token").value = "";
  signIn(token);
});
document.getElementById("sign-out").onclick = () => signOut("Signed out.");

// --- venue and tabs ------------------------------------------------------------------------------------

// the header's name and the currency come from the venue's summary (its settings' name once set)
async function choose(id) {
  shell.venue = id ? await shell.api(`/api/venues/${encodeURIComponent(id)}`) : null;
  venue = id;
  showVenue();
  document.dispatchEvent(new CustomEvent("meshpos:venue", { detail: id })); // page scripts follow it
  refresh();
}
function showVenue() {
  const venue = shell.venue;
  document.getElementById("venue-name").textContent = venue ? venue.name : "(no venue yet)";
  document.title = venue ? `${venue.name} — meshpos console` : "meshpos console";
}

function showTab(tab) {
  shell.tab = TABS.includes(tab) ? tab : "status";
  for (const button of document.querySelectorAll("#tabs button")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === shell.tab));
  }
  // the tabs' own parts only (a tab's content may have data-tab attributes of its own)
  for (const part of document.querySelectorAll("main > [data-tab]")) part.hidden = part.dataset.tab !== shell.tab;
  if (location.hash !== `#${shell.tab}`) history.replaceState(null, "", `#${shell.tab}`);
  refresh();
}
for (const button of document.querySelectorAll("#tabs button")) button.onclick = () => showTab(button.dataset.tab);

let refreshing = false;
async function refresh() {
  if (!shell.token || !shell.venue || refreshing) return;
  refreshing = true;
  const notice = document.getElementById("notice");
  try {
    for (const show of shell.shows[shell.tab] || []) await show(shell.venue);
    notice.hidden = true;
  } catch (error) {
    if (error.status !== 401) {
      notice.textContent = `Cannot load this tab: ${error.message}`;
      notice.hidden = false;
    }
  } finally {
    refreshing = false;
  }
}

// --- the Status tab (Reports: console_reports.js) -------------------------------------------------------

const COUNTS = new Set(["receipts", "refund_count", "orders_open", "shifts_open"]);
const when = (ms) => shell.when(ms);
const ago = (s) => (s == null ? "" : s < 1 ? "now" : s < 120 ? `${Math.round(s)} s ago` : `${Math.round(s / 60)} min ago`);
function cell(text, num) {
  return shell.element("td", text, num ? { class: "num" } : {});
}
function rows(table, items, make, decorate) {
  const body = document.querySelector(`#${table} tbody`);
  body.replaceChildren(...items.map((item) => {
    const tr = document.createElement("tr");
    tr.append(...make(item));
    if (decorate) decorate(tr, item);
    return tr;
  }));
}
function reach(r) {
  if (!r.reachable) return r.refused ? `no: ${r.refused}` : "no";
  if (r.relay) return r.uplink ? "relay, uplink up" : "relay";
  return `via ${r.via}`;
}
function pairs(id, obj) {
  document.getElementById(id).replaceChildren(...Object.entries(obj).flatMap(([k, v]) => [
    shell.element("dt", k), shell.element("dd", typeof v === "object" ? JSON.stringify(v) : v)]));
}
const base = (venue) => `/api/venues/${encodeURIComponent(venue.id)}`;

// A device's pending count: its own word on its link to the relay; one beyond the relay's links is
// shown as its far record told it, with "?" (any enrolled device on the way may have changed it).
const pendingCell = (r) => r.pending != null ? r.pending : r.pending_told != null ? `${r.pending_told}?` : "—";
// A register's shift still open since an earlier business day (console/open_shifts.py), in the words of
// the register's own status: its drawer is not counted and its day stays loaded on every device.
const openSince = (day) => day ? `open since ${day}: close it` : "";
// The console's signing key of the venue (console_key.signing_state): strict registers take only what it
// signs, so its end is said here before registers show their sales not at the console.
const signingKey = (s) => s.state === "valid" ? `valid until ${s.ends}` : `${s.state}: ${s.says}`;
const notHereYet = (reachable) => {
  const known = reachable.reduce((sum, r) => sum + (r.pending || 0), 0);
  const unknown = reachable.filter((r) => r.pending == null).length;
  return unknown ? `${known} + unknown on ${unknown} device${unknown === 1 ? "" : "s"}` : known;
};

shell.onShow("status", async (venue) => {
  const summary = await shell.api(base(venue)); // a name or currency set in Settings shows at once
  if (shell.venue && shell.venue.id === summary.id) {
    shell.venue = summary;
    showVenue();
  }
  const [status, totals, alarms] = await Promise.all([
    shell.api(`${base(venue)}/status`), shell.api(`${base(venue)}/totals`), shell.api(`${base(venue)}/alarms`),
  ]);
  const devices = Object.values(status.registers);
  const reachable = devices.filter((r) => r.reachable);
  pairs("status", {
    relays: status.relays.join(", ") || "none",
    "devices reachable": `${reachable.length} of ${devices.length}`,
    // a device beyond the relay's links says its count through other devices, signed by none: unknown
    "changes not here yet": notHereYet(reachable),
    documents: status.documents.length,
    "not in these reports": status.not_materialised.count
      ? `${status.not_materialised.count} records: ${status.not_materialised.reason}`
      : "none",
    "signing key": signingKey(status.signing),
  });
  document.getElementById("status").dataset.signing = status.signing.state;
  rows("registers", Object.entries(status.registers), ([node, r]) => [
    cell(node), cell(r.role || "?"), cell(reach(r)), cell(pendingCell(r), true),
    cell(r.receipts, true), cell(r.last_record_ms ? `${when(r.last_record_ms)} (${ago(r.last_record_s)})` : ""),
    cell(r.reachable ? "now" : ago(r.last_heard_s)), cell(openSince(r.shift_open_since))],
  (tr, [node, r]) => {
    tr.dataset.device = node;
    tr.className = r.reachable ? "" : "unreachable";
    if (r.shift_open_since) tr.dataset.shiftOpenSince = r.shift_open_since;
  });
  pairs("totals", Object.fromEntries(Object.entries(totals).map(
    ([k, v]) => [k.replace("_", " "), COUNTS.has(k) ? v : shell.money(v)])));
  // records the console refused to overwrite, conflicts, receipt numbers used twice (duplicate_number)
  document.getElementById("alarm-count").textContent = alarms.length ? `(${alarms.length})` : "(none)";
  rows("alarms", alarms, (a) => [cell(a.kind), cell(`${a.table} ${a.record_id}`), cell(when(a.first_seen_ms)),
    cell(a.detail)], (tr, a) => { tr.dataset.kind = a.kind; });
});

// --- start ---------------------------------------------------------------------------------------------

window.addEventListener("load", () => {
  showTab(location.hash.slice(1));
  const params = new URLSearchParams(location.search);
  const fromLink = params.get("token");
  if (fromLink) history.replaceState(null, "", location.pathname + location.hash);
  const token = fromLink || sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token);
  else showLogin("");
  setInterval(refresh, 2000);
});
