"use strict";
// The silent kitchen (docs/architecture.md (Documents)): a register warns when a ticket it sent is held by no
// kitchen screen KITCHEN_ACK_MS after it was sent. The node lists this register's unheld tickets; the page
// re-reads them when the kitchen changes and ages them every second on the node's clock. The warning is never
// more optimistic than the truth: only a kitchen screen's acknowledgement, read from the node, takes it away
// (a failed read keeps what was shown).

const KitchenWatch = (() => {
  const { api, h, $ } = Mesh;
  const watch = { unheld: null, clockOffset: 0, timer: 0 };

  async function load() {
    const answer = await api("GET", "/api/kitchen/unheld");
    watch.unheld = answer;
    watch.clockOffset = answer.now_ms - Date.now();
    tick();
    // the warning shows the moment the first ticket is due, not at the next second's tick
    const now = Date.now() + watch.clockOffset;
    const due = answer.tickets.map((t) => t.created_at_ms + answer.ack_ms - now).filter((ms) => ms > 0);
    clearTimeout(watch.timer);
    if (due.length) watch.timer = setTimeout(tick, Math.min(...due));
  }

  function tick() {
    const box = $("#kitchen-warning");
    if (!box || !watch.unheld) return;
    const now = Date.now() + watch.clockOffset;
    const lost = watch.unheld.tickets.filter((t) => now - t.created_at_ms >= watch.unheld.ack_ms);
    box.hidden = lost.length === 0;
    box.replaceChildren(...(lost.length ? [
      h("strong", {}, "No kitchen screen has received: "),
      h("span", {}, lost.map((t) => `${t.label} (sent ${Math.floor((now - t.created_at_ms) / 1000)} s ago)`)
        .join(", ")),
      h("small", {}, " Check that a kitchen screen is on and linked, or tell the kitchen."),
    ] : []));
    box.dataset.lost = lost.map((t) => t.id).join(",");
  }

  setInterval(tick, 1000);
  return { load };
})();
