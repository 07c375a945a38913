"""Found from the outside: a ``reader`` token opened the catalog and read the staff's PIN hashes.

A PIN is 4 digits: its scrypt hash falls to an offline search of 10,000 candidates, so a token that can
never sell (a price board, a kitchen screen) must not carry the hashes away. Tokens below ``register``
are refused the catalog for good (4403); certificates (devices that hold the catalog already) and
register tokens (an app that sells needs the prices) still open it (docs/api.md, Yjs).
"""

from __future__ import annotations

from tests.yjs.kit import Bed


def test_a_reader_token_may_not_open_the_catalog_and_y_websocket_gives_up(bed: Bed) -> None:
    before = bed.node.status()["refusals"].get("yjs_catalog", 0)
    board = bed.client("catalog", token=bed.tokens["board"])
    closed = board.ask("closed")
    assert closed["done"], closed
    assert closed["code"] == 4403, closed
    assert closed["reconnecting"] is False, closed
    assert bed.node.status()["refusals"].get("yjs_catalog", 0) == before + 1


def test_a_reader_token_still_reads_the_stop_list_and_a_register_token_the_catalog(
    bed: Bed,
) -> None:
    assert bed.client("stoplist", token=bed.tokens["board"]).ask("synced")["done"]
    assert bed.client("catalog", token=bed.tokens["tablet"]).ask("synced")["done"]
    assert bed.client("catalog", device="K9", role="kds").ask("synced")["done"]
