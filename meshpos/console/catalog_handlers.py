"""The console's catalog handlers: everything the registers receive, per venue, and the audit log.

Categories, products, modifier groups, discounts, taxes, roles, users (PINs are hashed here and never
answered back), venue settings, the stop list; the menu as CSV; copying a menu between a chain's venues.
Each write runs through the model's rules on the console's replica (``hub.edit``), reaches every register
through the venue's relay, and is audited (:mod:`meshpos.console.audit`) in the transaction that commits it.

**Changed** (open rules, rules, the twentieth session): a new product whose id differs only by case from
one the venue has (``Tea`` beside ``tea``) is refused naming both (``catalog_types.case_twin``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import Callable
from importlib import resources
from typing import Any, TypeVar

from meshpos.console import audit
from meshpos.console.calls import CONSOLE_USER, ConsoleCall, current_venue, shown_name
from meshpos.console.menu_csv import export_menu, parse_menu
from meshpos.console.records import AuditEntry
from meshpos.errors import CorruptRecord, DomainError, UnknownRecord
from meshpos.httpapi.server import Response
from meshpos.model import (
    Category,
    Discount,
    Modifier,
    ModifierGroup,
    Product,
    Role,
    Settings,
    StopEntry,
    Tax,
    User,
    Venue,
    hash_pin,
)
from meshpos.model.catalog_types import RIGHTS, by_case, case_twin
from meshpos.model.limits import MAX_ID_CHARS, check_value
from meshpos.model.venue_base import business_date

T = TypeVar("T")


# --- reads ------------------------------------------------------------------------------------------


async def _venue(c: ConsoleCall, venue_id: str | None = None) -> Venue:
    return await current_venue(c.console, venue_id or c.venue)


def _user_view(user: User) -> dict[str, Any]:
    """A user as the console shows it: whether a PIN is set, never its hash."""
    return {"id": user.id, "name": user.name, "role": user.role, "has_pin": bool(user.pin_hash)}


def _products(venue: Venue) -> list[dict[str, Any]]:
    products = venue.catalog.products()
    return [dataclasses.asdict(p) | {"stopped": venue.stoplist.is_stopped(p.id)} for p in products]


async def catalog(c: ConsoleCall) -> list[dict[str, Any]]:
    return _products(await _venue(c))


async def menu(c: ConsoleCall) -> dict[str, Any]:
    """Everything the console's Menu, Staff and Settings sections show, in one answer."""
    venue = await _venue(c)
    cat = venue.catalog
    return {
        "categories": cat.categories(),
        "products": _products(venue),
        "taxes": cat.taxes(),
        "modifier_groups": cat.modifier_groups(),
        "discounts": cat.discounts(),
        "roles": [{"name": r.name, "rights": sorted(r.rights)} for r in cat.roles()],
        "users": [_user_view(u) for u in cat.users()],
        "settings": cat.settings(),
        "rights": list(RIGHTS),
    }


async def settings(c: ConsoleCall) -> Settings:
    return (await _venue(c)).catalog.settings()


async def chain(c: ConsoleCall) -> list[dict[str, str]]:
    """The venues of this console (a chain's), each by the name its header shows (calls.shown_name)."""
    given = await c.console.db.venue_names()
    return [
        {"id": venue_id, "name": shown_name(await _venue(c, venue_id), venue_id, given)}
        for venue_id in sorted(given)
    ]


async def audit_log(c: ConsoleCall) -> list[AuditEntry]:
    before = c.query["before_seq"] or None
    return await c.console.db.audit_log(c.venue, limit=c.query["limit"], before_seq=before)


async def menu_csv(c: ConsoleCall) -> Response:
    text = export_menu((await _venue(c)).catalog)
    return Response(
        200,
        text.encode(),
        "text/csv; charset=utf-8",
        {"Content-Disposition": f'attachment; filename="menu-{c.venue}.csv"'},
    )


# --- writes -----------------------------------------------------------------------------------------


def _storable(value: T, what: str) -> T:
    """The entity, once every value of it is known to be writable whole (limits.check_value): the last
    guard before pycrdt, which panics half-way through a write on a value it cannot encode."""
    check_value(dataclasses.asdict(value), what)  # type: ignore[call-overload]
    return value


async def _edit(
    c: ConsoleCall,
    change: Callable[[Venue], T],
    action: str,
    subject: str,
    before: Callable[[Venue], Any] | None = None,
    venue_id: str | None = None,
) -> T:
    """Run ``change`` on the venue's documents and log it with what was there before, the edit and
    its entry in one database transaction (meshpos.console.audit)."""
    venue_id = venue_id or c.venue
    audit.check_head(c.who, action, subject)
    previous: list[Any] = []

    def audited(v: Venue) -> T:
        if before is not None:
            previous.append(_before(lambda: before(v)))
        return change(v)

    def logged(result: T) -> AuditEntry:
        detail: dict[str, Any] = {"after": audit.summary(result)}
        if previous:
            detail["before"] = audit.summary(previous[0])
        return audit.entry(c.who, action, subject, detail)

    async with c.console.using(venue_id) as hub:
        return await hub.edit(audited, logged)


def _before(read: Callable[[], Any]) -> Any:
    """What an entity was before an edit: None when it did not exist, a note when its record could not
    be read (replacing a corrupt record whole is how it is repaired)."""
    try:
        return read()
    except UnknownRecord:
        return None
    except CorruptRecord as exc:
        return {"unreadable": exc.message}


async def put_category(c: ConsoleCall) -> Category:
    b = c.body
    category = _storable(Category(b["id"], b["name"], b["position"]), "category")

    def change(v: Venue) -> Category:
        v.catalog.put_category(category)
        return category

    return await _edit(
        c, change, "category.put", category.id, lambda v: v.catalog.category(category.id)
    )


async def put_product(c: ConsoleCall) -> Product:
    b = c.body
    product = _storable(
        Product(
            id=b["id"],
            name=b["name"],
            price=b["price"],
            category=b["category"],
            tax_id=b["tax_id"] or None,
            modifier_groups=tuple(b["modifier_groups"]),
            active=b["active"],
            kitchen=b["kitchen"],
        ),
        "product",
    )

    def change(v: Venue) -> Product:
        named = {
            p.category for p in v.catalog.products()
        }  # menus made before categories were records
        if product.category and product.category not in named:
            v.catalog.category(product.category)  # an unknown category is refused (404)
        twin = case_twin(product.id, by_case(p.id for p in v.catalog.products()))
        if twin is not None:
            raise DomainError(
                f"product {product.id!r} differs only by case from the venue's product {twin!r} "
                f"({v.catalog.product(twin).name!r}): one product, one id whatever its case; "
                f"send {twin!r} to change it"
            )
        v.catalog.put_product(product)
        return product

    return await _edit(
        c, change, "product.put", product.id, lambda v: v.catalog.product(product.id)
    )


async def set_price(c: ConsoleCall) -> Product:
    product_id, price = c.body["product_id"], c.body["price"]

    def change(v: Venue) -> Product:
        updated = _storable(
            dataclasses.replace(v.catalog.product(product_id), price=price), "product"
        )
        v.catalog.put_product(updated)
        return updated

    return await _edit(
        c, change, "product.price", product_id, lambda v: v.catalog.product(product_id)
    )


async def set_stop(c: ConsoleCall) -> StopEntry:
    product_id, stopped, user = c.body["product_id"], c.body["stopped"], c.body["user"]

    def change(v: Venue) -> StopEntry:
        v.catalog.product(product_id)
        if user != CONSOLE_USER:
            v.catalog.user(user)  # an unknown user is refused, not written into the stop list
        return v.stoplist.set(
            product_id,
            stopped,
            user=user,
            device="console",
            clock=v.clock,
            now_ms=int(time.time() * 1000),
        )

    return await _edit(c, change, "stoplist.set", product_id)


async def put_tax(c: ConsoleCall) -> Tax:
    b = c.body
    tax = _storable(Tax(b["id"], b["name"], b["rate_bp"], b["included"]), "tax")

    def change(v: Venue) -> Tax:
        v.catalog.put_tax(tax)
        return tax

    return await _edit(c, change, "tax.put", tax.id, lambda v: v.catalog.tax(tax.id))


def _modifiers(raw: list[dict[str, Any]]) -> tuple[Modifier, ...]:
    """The modifiers of a group's body: each an object with ``id``, ``name`` and ``price_delta``
    (422 naming the modifier when one is not: the schema can only say "text or whole numbers")."""
    out = []
    for i, item in enumerate(raw):
        where = f"field 'modifiers' [{i}]"
        unknown = sorted(set(item) - {"id", "name", "price_delta"})
        if unknown:
            raise DomainError(f"{where} has unknown field(s) {unknown}")
        for key, kind in (("id", str), ("name", str), ("price_delta", int)):
            value = item.get(key, 0 if key == "price_delta" else None)
            if not isinstance(value, kind):
                raise DomainError(f"{where} {key!r} must be {kind.__name__}")
        if not item["id"] or len(item["id"]) > MAX_ID_CHARS:
            raise DomainError(f"{where} 'id' must be 1-{MAX_ID_CHARS} characters")
        out.append(Modifier(item["id"], item["name"], item.get("price_delta", 0)))
    ids = [m.id for m in out]
    if len(set(ids)) != len(ids):
        raise DomainError("field 'modifiers' names one modifier id twice")
    return tuple(out)


async def put_modifier_group(c: ConsoleCall) -> ModifierGroup:
    b = c.body
    group = _storable(
        ModifierGroup(
            b["id"], b["name"], _modifiers(b["modifiers"]), b["min_select"], b["max_select"]
        ),
        "modifier group",
    )

    def change(v: Venue) -> ModifierGroup:
        v.catalog.put_modifier_group(group)
        return group

    return await _edit(
        c, change, "modifier_group.put", group.id, lambda v: v.catalog.modifier_group(group.id)
    )


async def put_discount(c: ConsoleCall) -> Discount:
    b = c.body
    discount = _storable(
        Discount(b["id"], b["name"], b["kind"], b["scope"], b["value"], tuple(b["roles"])),
        "discount",
    )

    def change(v: Venue) -> Discount:
        v.catalog.put_discount(discount)
        return discount

    return await _edit(
        c, change, "discount.put", discount.id, lambda v: v.catalog.discount(discount.id)
    )


async def put_role(c: ConsoleCall) -> dict[str, Any]:
    role = Role(c.body["name"], frozenset(c.body["rights"]))

    def change(v: Venue) -> dict[str, Any]:
        v.catalog.put_role(role)
        return {"name": role.name, "rights": sorted(role.rights)}

    return await _edit(c, change, "role.put", role.name, lambda v: v.catalog.role(role.name))


async def put_user(c: ConsoleCall) -> dict[str, Any]:
    """Add a user or change one; a PIN given is set (hashed here), none keeps the user's PIN."""
    b = c.body
    pin_hash = await asyncio.to_thread(hash_pin, b["pin"]) if b["pin"] else None
    wanted = _storable(User(b["id"], b["name"], b["role"], pin_hash or ""), "user")

    def change(v: Venue) -> dict[str, Any]:
        kept = _before(lambda: v.catalog.user(wanted.id))
        user = wanted
        if pin_hash is None and isinstance(kept, User):
            user = dataclasses.replace(wanted, pin_hash=kept.pin_hash)
        v.catalog.put_user(user)
        return _user_view(user) | {"pin_changed": pin_hash is not None}

    return await _edit(
        c, change, "user.put", wanted.id, lambda v: _user_view(v.catalog.user(wanted.id))
    )


async def set_pin(c: ConsoleCall) -> dict[str, Any]:
    """Set or reset a user's PIN (the old one stops working on every register it reaches)."""
    user_id = c.params["user_id"]
    pin_hash = await asyncio.to_thread(hash_pin, c.body["pin"])

    def change(v: Venue) -> dict[str, Any]:
        user = dataclasses.replace(v.catalog.user(user_id), pin_hash=pin_hash)
        v.catalog.put_user(user)
        return _user_view(user)

    return await _edit(c, change, "user.pin", user_id)


@functools.cache
def venue_zones() -> frozenset[str]:
    """The IANA time zones a venue may name: the tz database's list (the ``tzdata`` package's, the
    same on every machine), without ``Factory``. The machine's own database also opens
    ``localtime`` (another zone on each device), ``posixrules`` and ``right/...`` (leap seconds),
    which the console took and browsers refuse (outside, third round)."""
    names = resources.files("tzdata").joinpath("zones").read_text("ascii").split()
    return frozenset(names) - {"Factory"}


async def put_settings(c: ConsoleCall) -> Settings:
    wanted = _storable(Settings(**c.body), "settings")
    if wanted.timezone not in venue_zones():
        raise DomainError(
            f"venue setting timezone {wanted.timezone!r} is not a time zone of the IANA database "
            "(an Area/City name such as 'Europe/Paris', or 'UTC')"
        )
    business_date(0, wanted.timezone, wanted.day_cutoff_hour)  # the machine can open it too
    sold = await c.console.db.report(
        lambda cur: cur.fetchall("SELECT 1 FROM receipts WHERE venue_id = ? LIMIT 1", (c.venue,))
    )

    def change(v: Venue) -> Settings:
        held = v.catalog.settings().currency
        if sold and wanted.currency != held:
            # (the twenty-third session; outside, tenth round) amounts are whole minor units of the
            # venue's currency: a change read every past receipt, report and price in the new one
            raise DomainError(
                f"venue {c.venue!r} has sales in {held} at the console: its currency cannot become "
                f"{wanted.currency}, which would read every past amount and price as {wanted.currency}; "
                f"to sell in {wanted.currency}, make a new venue (meshpos venue init), set its "
                f"currency before its first sale and import this one's menu.csv with prices in "
                f"{wanted.currency}"
            )
        v.catalog.put_settings(wanted)
        return wanted

    return await _edit(c, change, "settings.put", "settings", lambda v: v.catalog.settings())


def remover(kind: str, param: str) -> Callable[[ConsoleCall], Any]:
    """A DELETE handler for one kind of entity (refused while something still names it)."""

    async def delete(c: ConsoleCall) -> dict[str, Any]:
        key = c.params[param]

        def change(v: Venue) -> dict[str, Any]:
            v.catalog.remove(kind, key)
            return {"deleted": key}

        return await _edit(c, change, f"{kind}.delete", key)

    delete.__name__ = f"delete_{kind}"
    return delete


async def import_menu(c: ConsoleCall) -> dict[str, Any]:
    """A CSV menu, all or nothing: BadCsv (400, naming line and column) and nothing written."""
    lines = c.body["lines"]

    def change(v: Venue) -> dict[str, Any]:
        entries = parse_menu(lines, v.catalog)
        v.catalog.load(entries)
        return {
            "products": sum(isinstance(e, Product) for e in entries),
            "categories_created": sum(isinstance(e, Category) for e in entries),
        }

    return await _edit(c, change, "menu.import", "menu")


async def copy_menu(c: ConsoleCall) -> dict[str, Any]:
    """The source venue's categories, taxes, modifier groups, products and discounts (with the roles its
    discounts name that this venue lacks) written into this venue, replacing same ids, in one update.
    Users, settings and the stop list stay each venue's own. A source product whose id differs only by
    case from one this venue has is refused, naming both (**Changed**, the twenty-first session: the
    copy wrote ``Tea`` beside ``tea``). So is a copy between venues of different currencies
    (**Changed**, the twenty-third session, part ``outside``: prices are minor units, and a Paris
    espresso's 250, EUR 2.50, was copied into a Tokyo venue as ¥250)."""
    source_id = c.body["from_venue"]
    if source_id == c.venue:
        raise DomainError("field 'from_venue' names this venue: copy from another one")
    if source_id not in await c.console.db.venues():
        raise UnknownRecord(f"field 'from_venue': no venue {source_id!r} at this console")
    source = (await _venue(c, source_id)).catalog
    discounts = source.discounts()
    roles = {r.name: r for r in source.roles()}  # a role that does not parse is not copied
    entries: list[Any] = [
        *source.categories(),
        *source.taxes(),
        *source.modifier_groups(),
        *(products := source.products()),
    ]

    def change(v: Venue) -> dict[str, Any]:
        theirs, ours = source.settings().currency, v.catalog.settings().currency
        if theirs != ours:
            raise DomainError(
                f"venue {source_id!r} sells in {theirs} and this venue in {ours}: its prices are "
                f"{theirs} minor units and would be read as {ours}; copy from a venue of one "
                "currency (or set this venue's currency first, if it is wrong)"
            )
        ids = by_case(p.id for p in v.catalog.products())
        for product in products:
            twin = case_twin(product.id, ids)
            if twin is not None:  # (as put_product refuses it: the copy made both, sold apart)
                raise DomainError(
                    f"product {product.id!r} of venue {source_id!r} differs only by case from "
                    f"this venue's product {twin!r} ({v.catalog.product(twin).name!r}): one "
                    f"product, one id whatever its case; give them one id before copying"
                )
        missing = {n for d in discounts for n in d.roles} - {r.name for r in v.catalog.roles()}
        v.catalog.load([*entries, *(roles[n] for n in sorted(missing) if n in roles), *discounts])
        return {
            "from_venue": source_id,
            "products": sum(isinstance(e, Product) for e in entries),
            "discounts": len(discounts),
        }

    return await _edit(c, change, "menu.copy", source_id)
