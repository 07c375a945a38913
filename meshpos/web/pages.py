"""The register and kitchen pages: static HTML, CSS and JavaScript shipped in the package (no CDN, no build).

A page needs a token. The page token (derived from the API token, whose writes need a PIN sign-in:
:mod:`meshpos.web.sessions`) is embedded in the page only for a request that comes from this machine's
loopback *and* names a loopback host (``127.x.x.x`` or ``localhost``): the API listens on 127.0.0.1 for
the register app beside it, and the host check keeps a web site that rebinds its own name to 127.0.0.1 from
reading the token out of the page. Anywhere else the page asks for the token from ``<data_dir>/api.token``.
"""

from __future__ import annotations

import html
import ipaddress
from importlib import resources
from urllib.parse import urlsplit

from meshpos.httpapi.routes import Route
from meshpos.httpapi.server import PAGE_SECURITY as SECURITY
from meshpos.httpapi.server import HttpError, Request, Response
from meshpos.web.routes import Call

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


def asset(name: str) -> str:
    return (resources.files("meshpos.web") / "static" / name).read_text(encoding="utf-8")


def assets() -> set[str]:
    folder = resources.files("meshpos.web") / "static"
    return {entry.name for entry in folder.iterdir() if not entry.name.endswith(".html")}


def is_local(request: Request) -> bool:
    host = urlsplit("//" + request.headers.get("host", "")).hostname or ""
    return _loopback(request.peer) and (host == "localhost" or _loopback(host))


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def page(c: Call, name: str) -> Response:
    token = c.token if is_local(c.request) else ""
    text = (
        asset(name)
        .replace("{{token}}", html.escape(token))
        .replace("{{node}}", html.escape(c.node.node_id))
        .replace("{{role}}", html.escape(c.node.role))
    )
    response = Response.text(text, TYPES[".html"])
    response.headers.update(SECURITY)
    return response


async def register_page(c: Call) -> Response:
    if c.node.role == "kds":  # a kitchen screen has no register: show its board
        return Response(302, headers={"Location": "/kitchen"})
    return page(c, "register.html")


async def kitchen_page(c: Call) -> Response:
    return page(c, "kitchen.html")


async def static(c: Call) -> Response:
    name = c.params["name"]
    if name not in assets():  # a fixed set of files: no path ever reaches the file system
        raise HttpError(404, "unknown_file", f"no such file: /static/{name}")
    suffix = name[name.rfind(".") :]
    response = Response.text(asset(name), TYPES.get(suffix, "application/octet-stream"))
    response.headers.update(SECURITY)
    return response


ROUTES = (
    Route(
        "GET",
        "/",
        register_page,
        "The register page (a kitchen screen node redirects to /kitchen)",
        auth=False,
        tag="pages",
        content_type="text/html",
    ),
    Route(
        "GET",
        "/kitchen",
        kitchen_page,
        "The kitchen screen page",
        auth=False,
        tag="pages",
        content_type="text/html",
    ),
    Route(
        "GET",
        "/static/{name}",
        static,
        "The pages' CSS and JavaScript",
        auth=False,
        tag="pages",
        content_type=TYPES[".css"],
        other_types=tuple(sorted(set(TYPES.values()) - {TYPES[".css"]})),
    ),
)
