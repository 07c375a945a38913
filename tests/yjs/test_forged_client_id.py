"""Found from the outside: a stock Yjs client could write under another device's Yjs client id.

A register token's client on R1 sent an update appending to R2's client id at R2's next clock. R1 took it
(register may write ledgers; only R1's own id was guarded), so R2's next real write at that clock would
be ignored everywhere as already held: two writers of one client id diverge for good, and R2's sale
vanishes from every other device. A stock client now writes under its own (learnt) ids only.
"""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Map

from meshpos.sync import SyncUpdate, UpdateRejected, encode_y_payload
from tests.sync.helpers import pump, sync_pair
from tests.yjs.test_yjs_session import LEDGER, Client, node


def _update(doc: Doc[Any], key: str, value: str) -> bytes:
    updates: list[bytes] = []
    sub = doc.observe(lambda e: updates.append(e.update))
    doc.get("notes", type=Map)[key] = value
    doc.unobserve(sub)
    return updates[0]


def test_an_update_under_another_devices_client_id_is_refused_and_changes_nothing() -> None:
    r1, r2 = node("R1"), node("R2")
    k1, k2 = sync_pair(r1, r2)
    r2.open_doc(LEDGER)
    with r2.docs[LEDGER].transaction():
        r2.docs[LEDGER].get("notes", type=Map)["sale"] = "R2's"
    pump(r1, k1, r2, k2)
    held = r1.docs[LEDGER].get_state()
    client = Client(r1, "tablet", LEDGER, "register", 77)
    client.drain()
    r1.events_received()

    forger: Doc[Any] = Doc(client_id=r2.client_id)  # R2's id, continuing from what R2 wrote
    forger.apply_update(r1.docs[LEDGER].get_update())
    client.send(encode_y_payload(SyncUpdate(LEDGER, _update(forger, "sale", "forged"))))

    rejected = [e for e in r1.events_received() if isinstance(e, UpdateRejected)]
    assert [e.reason for e in rejected] == ["carries changes under another device's client id"]
    assert r1.docs[LEDGER].get_state() == held
    assert r1.docs[LEDGER].get("notes", type=Map)["sale"] == "R2's"


def test_a_client_still_writes_under_its_own_ids_beside_the_devices() -> None:
    r1, r2 = node("R1"), node("R2")
    k1, k2 = sync_pair(r1, r2)
    r2.open_doc(LEDGER)
    with r2.docs[LEDGER].transaction():
        r2.docs[LEDGER].get("notes", type=Map)["sale"] = "R2's"
    pump(r1, k1, r2, k2)
    client = Client(r1, "tablet", LEDGER, "register", 78)
    client.drain()
    client.write("mine", "1")
    client.write("mine", "2")
    assert not [e for e in r1.events_received() if isinstance(e, UpdateRejected)]
    pump(r1, k1, r2, k2)
    assert r2.docs[LEDGER].get("notes", type=Map)["mine"] == "2"
