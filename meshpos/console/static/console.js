// The console's reports page: reads the admin JSON API with the admin token (from ?token= once, then
// sessionStorage), and refreshes every two seconds.
"use strict";
const params = new URLSearchParams(location.search);
if (params.get("token")) {
  sessionStorage.setItem("meshpos-console-token", params.get("token"));
  history.replaceState(null, "", location.pathname);
}
const token = sessionStorage.getItem("meshpos-console-token") || prompt("Console admin token") || "";
let venue = null;
const COUNTS = new Set(["receipts", "refund_count", "orders_open", "shifts_open"]);

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return body;
}
const money = (cents) => (cents / 100).toFixed(2);
const when = (ms) => (ms ? new Date(ms).toLocaleString() : "");
function cell(text, num) {
  const td = document.createElement("td");
  td.textContent = text;
  if (num) td.className = "num";
  return td;
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
const ago = (s) => (s == null ? "" : s < 1 ? "now" : s < 120 ? `${Math.round(s)} s ago` : `${Math.round(s / 60)} min ago`);
function reach(r) {
  if (!r.reachable) return "no";
  if (r.relay) return r.uplink ? "relay, uplink up" : "relay";
  return `via ${r.via}`;
}
function pairs(id, obj) {
  document.getElementById(id).replaceChildren(...Object.entries(obj).flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = typeof v === "object" ? JSON.stringify(v) : v;
    return [dt, dd];
  }));
}

// records the console refused to overwrite, conflicts, receipt numbers used twice (duplicate_number)
async function showAlarms(base) {
  const alarms = await api(`${base}/alarms`);
  document.getElementById("alarm-count").textContent = alarms.length ? `(${alarms.length})` : "(none)";
  rows("alarms", alarms, (a) => [cell(a.kind), cell(`${a.table} ${a.record_id}`), cell(when(a.first_seen_ms)),
    cell(a.detail)], (tr, a) => { tr.dataset.kind = a.kind; });
}

async function refresh() {
  try {
    const venues = await api("/api/venues");
    venue = venue || venues[0];
    document.getElementById("venues").replaceChildren(...venues.map((v) => {
      const b = document.createElement("button");
      b.textContent = v.slice(0, 8);
      b.dataset.venue = v;
      if (v === venue) b.className = "chosen";
      b.onclick = () => { venue = v; refresh(); };
      return b;
    }));
    if (!venue) return;
    const base = `/api/venues/${venue}`;
    const [status, totals] = await Promise.all([api(`${base}/status`), api(`${base}/totals`)]);
    document.getElementById("venue-name").textContent = venue;
    const devices = Object.values(status.registers);
    const reachable = devices.filter((r) => r.reachable);
    pairs("status", {
      relays: status.relays.join(", ") || "none",
      "devices reachable": `${reachable.length} of ${devices.length}`,
      "changes not here yet": reachable.reduce((sum, r) => sum + (r.pending || 0), 0),
      documents: status.documents.length,
      "not in these reports": status.not_materialised.count
        ? `${status.not_materialised.count} records: ${status.not_materialised.reason}`
        : "none",
    });
    rows("registers", Object.entries(status.registers), ([node, r]) => [
      cell(node), cell(r.role || "?"), cell(reach(r)), cell(r.pending == null ? "—" : r.pending, true),
      cell(r.receipts, true), cell(r.last_record_ms ? `${when(r.last_record_ms)} (${ago(r.last_record_s)})` : ""),
      cell(r.reachable ? "now" : ago(r.last_heard_s))],
    (tr, [node, r]) => { tr.dataset.device = node; tr.className = r.reachable ? "" : "unreachable"; });
    pairs("totals", Object.fromEntries(Object.entries(totals).map(
      ([k, v]) => [k.replace("_", " "), COUNTS.has(k) ? v : money(v)])));
    // Reports (receipts, shifts, sales, refunds, stock): console_reports.js
    await showAlarms(base);
    document.getElementById("notice").hidden = true;
  } catch (error) {
    const notice = document.getElementById("notice");
    notice.textContent = `Cannot load the reports: ${error.message}`;
    notice.hidden = false;
  }
}
refresh();
setInterval(refresh, 2000);
