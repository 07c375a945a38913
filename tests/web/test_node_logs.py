"""The web tests' node log (tests/web/conftest.py): a failed test's artifact folder gets every meshpos
record of the test, so a failure seen once in CI shows what the nodes did (the split failure's lacked it)."""

from __future__ import annotations

import logging

from .conftest import kept_logs


def test_the_kept_log_holds_the_meshpos_records_and_restores_the_level() -> None:
    logger = logging.getLogger("meshpos")
    level = logger.level
    with kept_logs(logger) as kept:
        logging.getLogger("meshpos.node").debug("node %s started", "R1")
        logging.getLogger("meshpos.net").info("linked with %s", "R2")
        logging.getLogger("elsewhere").warning("not a node's")
    logging.getLogger("meshpos.node").warning("after the test")
    assert [line.split(" ", 1)[1] for line in kept.lines] == [
        "DEBUG meshpos.node: node R1 started",
        "INFO meshpos.net: linked with R2",
    ]
    assert logger.level == level
    assert kept not in logger.handlers
