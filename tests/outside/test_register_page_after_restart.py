"""A register page open in a browser for a week, and its node restarted (tenth outside round, the
twenty-third session).

README's register writes no ``api_port`` (0: any free port), opens the page at the address in
``meshpos-data/api.url``, and leaves it open: a kiosk tab. The node restarts (the service's restart
after a crash, a power cut, an upgrade) and listened on another port each time: the open page said
"This device's node does not answer" for ever, and the cashier could not sell until someone read
``api.url`` again and typed the new address. Now a node whose ``api_port`` is 0 takes the port it had
last (kept in ``<data_dir>/api.port``) when it is free, so the page's address outlives a restart (its
sign-in does not: the page asks for the PIN again); only a port another program took meanwhile gives
a new address, said in the log. Real node processes: a clean stop and a kill -9, then the page's
address asked again.
"""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

from meshpos.config import load_config
from meshpos.model.sample import CASHIER

from ..mesh.kit import NodeProcess, make_device, make_venue


def page_answers(url: str) -> bool:
    with urllib.request.urlopen(url + "/", timeout=10) as answer:
        return bool(answer.status == 200 and b"meshpos-token" in answer.read())


def test_the_register_page_keeps_its_address_across_restarts(tmp_path: Path) -> None:
    config = make_device(make_venue(tmp_path), tmp_path, "R1")
    assert load_config(config, env={}).api_port == 0  # as README's node.toml: none written
    node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
    page = node.api
    try:
        node.call("POST", "/api/shifts", {"user": CASHIER, "opening_cash": 0})
        assert page_answers(page)
    finally:
        assert node.stop() == 0

    for how in ("stop", "kill -9"):
        node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
        try:
            assert node.api == page, how  # main: another port at each start
            assert page_answers(page)
            node.sell(CASHIER, ["espresso"])  # the page's node sells on
        finally:
            if how == "stop":
                assert node.stop() == 0
            else:
                node.kill()

    host, port = page.removeprefix("http://").rsplit(":", 1)
    with socket.socket() as other:  # another program took the port meanwhile: a new one
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the killed one's
        other.bind((host, int(port)))
        other.listen()
        node = NodeProcess(config, tmp_path / "R1.log", args=["--no-discovery"]).start()
        try:
            assert node.api != page
            assert page_answers(node.api)
        finally:
            assert node.stop() == 0
    log = (tmp_path / "R1.log").read_text()
    assert f"the local API's port {port} is taken" in log, log[-2000:]
