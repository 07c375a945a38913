"""A stock Yjs client in a browser: Debian's Chromium running npm's yjs and y-websocket, unchanged
(browser_client.html, served with the packages from tests/yjs/kit.py's npm folder), against a real
``meshpos node``'s Yjs endpoint over TLS with a bearer token, syncing a document with a Node.js stock
client through the node both ways.

The browser connects to the node's listener for token clients (``yjs_port``): the mesh port asks
every client for a certificate (optional for token clients, required for devices), and Chromium,
holding none, drops such a TLS 1.3 handshake (checked outside meshpos too: a bare Python TLS 1.3
server completes Chromium's handshake with ``CERT_NONE`` and loses it with ``CERT_OPTIONAL``); that
listener asks for none (``trust.tls.token_ssl_context``)."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from meshpos.trust.identity import CERT_FILE
from tests.web.cdp import Browser, Page, chromium_missing
from tests.yjs.kit import NOTES, Bed

PAGE = Path(__file__).with_name("browser_client.html")
SYNC_S = 20.0  # generous: the machine is shared with other test runs


class _Modules(http.server.SimpleHTTPRequestHandler):
    """node_modules as the browser's import map names them: ``lib0/encoding`` is ``encoding.js``
    (what npm's ``exports`` give a browser); the page at ``/``."""

    # (an instance variable of the base class, given here for every instance)
    extensions_map = {  # noqa: RUF012
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".html": "text/html",
    }

    def translate_path(self, path: str) -> str:
        if path.split("#")[0].split("?")[0] == "/":
            return str(PAGE)
        found = super().translate_path(path)
        if not Path(found).exists() and Path(found + ".js").is_file():
            return found + ".js"
        return found

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def modules(bed: Bed) -> Iterator[str]:
    """The page and the npm packages over HTTP on 127.0.0.1; its base URL."""
    handler = functools.partial(_Modules, directory=str(bed.npm / "node_modules"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
async def browser(bed: Bed, tmp_path: Path) -> AsyncIterator[Browser]:
    """Chromium that reaches the node and trusts its certificate's key, and only that one (the
    venue's CA is no public one: a real tablet would install it)."""
    if why := chromium_missing():
        pytest.skip(why)
    cert = x509.load_pem_x509_certificate((bed.root / "R1" / "identity" / CERT_FILE).read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    chromium = await Browser.launch(
        tmp_path / "chromium",
        reachable=[bed.host],
        flags=[f"--ignore-certificate-errors-spki-list={pin}"],
    )
    try:
        yield chromium
    finally:
        await chromium.close()


async def _open(browser: Browser, modules: str, bed: Bed, room: str, token: str) -> Page:
    page = await browser.new_page(f"yjs-{room}")
    options = {"url": f"wss://{bed.host}:{bed.yjs_port}/yjs", "room": room, "token": token}
    await page.goto(modules + "#" + quote(json.dumps(options)))
    await page.wait("window.yjsTest !== undefined", SYNC_S, "the page's modules")
    return page


async def test_a_browser_syncs_a_document_with_a_nodejs_client_through_the_node(
    bed: Bed, browser: Browser, modules: str
) -> None:
    room = "stoplist"
    page = await _open(browser, modules, bed, room, bed.tokens["tablet"])
    other = bed.client(room, token=bed.tokens["tablet"])
    await page.wait("yjsTest.synced()", SYNC_S, "the browser's first sync")
    assert other.ask("synced")["done"]

    await page.eval(f"yjsTest.set({json.dumps(NOTES)}, 'from-browser', 'hello')")
    assert other.ask("has", root=NOTES, key="from-browser")["done"]
    other.ask("set", root=NOTES, key="from-node", value="hi")
    await page.wait(
        f"yjsTest.get({json.dumps(NOTES)})['from-node'] === 'hi'", SYNC_S, "Node.js's write"
    )
    assert await page.eval(f"yjsTest.get({json.dumps(NOTES)})") == {
        "from-browser": "hello",
        "from-node": "hi",
    }
    assert await page.eval("yjsTest.closed()") == []
