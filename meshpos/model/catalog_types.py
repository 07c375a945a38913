"""The catalog's entities, how each is read back from its stored record, and PIN hashing.

Apart from :mod:`meshpos.model.catalog` (the document's reads and writes) so that module stays small; it
re-exports every name here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from meshpos.digits import ascii_digits
from meshpos.errors import CorruptRecord, DomainError, InvalidInput
from meshpos.model._records import Fields, bounded
from meshpos.model.limits import (
    MAX_AMOUNT,
    MAX_CATALOG_ID_CHARS,
    MAX_ID_CHARS,
    check_name,
    check_text,
)
from meshpos.model.money import BASIS_POINTS

RIGHTS = (
    "sell",
    "discount",
    "void",
    "refund",
    "override_stop",
    "open_shift",
    "close_shift",
    "cash",
    "inventory",
    "end_day",
)
DISCOUNT_KINDS = ("percent", "fixed")
DISCOUNT_SCOPES = ("line", "order")
MAX_POSITION = 9_999  # a category's place in the register's grid


@dataclass(frozen=True, slots=True)
class Category:
    """A heading of the register's grid; products name it by id (an id without a category record is
    shown as it is, as menus made before categories were entities did)."""

    id: str
    name: str
    position: int = 0


@dataclass(frozen=True, slots=True)
class Tax:
    id: str
    name: str
    rate_bp: int  # basis points: 2_000 = 20 %
    included: bool = True  # prices already contain the tax (usual in Europe) or it is added on top


@dataclass(frozen=True, slots=True)
class Modifier:
    id: str
    name: str
    price_delta: int = 0


@dataclass(frozen=True, slots=True)
class ModifierGroup:
    id: str
    name: str
    modifiers: tuple[Modifier, ...]
    min_select: int = 0
    max_select: int = 1


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    name: str
    price: int
    category: str = ""
    tax_id: str | None = None
    modifier_groups: tuple[str, ...] = ()
    active: bool = True
    kitchen: str = ""  # the kitchen station its tickets go to ("": the venue's one kitchen)


@dataclass(frozen=True, slots=True)
class Discount:
    id: str
    name: str
    kind: str  # percent | fixed
    scope: str  # line | order
    value: int  # basis points for percent, minor units for fixed
    roles: tuple[
        str, ...
    ] = ()  # the roles that may give it; empty: any role with the discount right


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    rights: frozenset[str]


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    role: str
    pin_hash: str = ""


@dataclass(frozen=True, slots=True)
class Settings:
    currency: str = "EUR"
    receipt_header: str = ""
    day_cutoff_hour: int = 4  # sales before 04:00 belong to the previous business day
    timezone: str = "UTC"
    name: str = ""  # the venue's name, on receipts and the console's header
    receipt_footer: str = ""
    blind_count: bool = (
        False  # a cashier closing a shift counts the drawer without seeing the expected cash
    )


# --- PINs ---------------------------------------------------------------------------------------

_SCRYPT = {"n": 2**12, "r": 8, "p": 1}
PIN_DIGITS = (4, 8)


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """scrypt, so a leaked catalog does not give away 4-digit PINs by a table lookup."""
    low, high = PIN_DIGITS
    if not ascii_digits(pin) or not low <= len(pin) <= high:
        raise DomainError(f"a PIN is {low} to {high} digits")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, pin_hash: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = pin_hash.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(pin.encode(), salt=salt, **_SCRYPT)
    return hmac.compare_digest(digest.hex(), digest_hex)


# --- checks -------------------------------------------------------------------------------------


def check_id(value: str, what: str) -> None:
    check_text(value, f"{what} id", MAX_ID_CHARS)
    if not value or len(value) > MAX_CATALOG_ID_CHARS or "/" in value:
        raise DomainError(f"{what} id {value!r}: 1-{MAX_CATALOG_ID_CHARS} characters, no '/'")


def case_twin(new_id: str, ids: Mapping[str, list[str]]) -> str | None:
    """The id that differs from ``new_id`` only by case, in ``ids`` (:func:`by_case`). None: none
    does, or ``new_id`` is one of them (an edit of a product that is there).

    WHY (open rules, rules, the twentieth session): ``Tea`` and ``tea`` are one product to a manager
    and a spreadsheet, but two to a dictionary: an import made a second product beside the first, sold
    and reported apart. The console refuses the second, naming both (API and CSV import)."""
    twins = ids.get(new_id.casefold(), [])
    return None if new_id in twins else next(iter(twins), None)


def by_case(ids: Iterable[str]) -> dict[str, list[str]]:
    """What :func:`case_twin` looks in: ``ids`` grouped by their casefold."""
    found: dict[str, list[str]] = {}
    for i in ids:
        found.setdefault(i.casefold(), []).append(i)
    return found


def whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_amount(value: object, what: str, low: int) -> None:
    if not whole(value):
        raise InvalidInput(f"{what} must be a whole number of minor units, got {value!r}")
    assert isinstance(value, int)
    if not low <= value <= MAX_AMOUNT:
        raise InvalidInput(f"{what} must be between {low} and {MAX_AMOUNT}, got {value}")


def check_discount(discount: Discount) -> None:
    what = f"discount {discount.id!r}"
    check_id(discount.id, "discount")
    if discount.kind not in DISCOUNT_KINDS or discount.scope not in DISCOUNT_SCOPES:
        raise DomainError(f"{what}: kind must be percent/fixed and scope line/order")
    top = BASIS_POINTS if discount.kind == "percent" else MAX_AMOUNT
    if not whole(discount.value) or not 0 <= discount.value <= top:
        raise DomainError(f"{what}: value must be 0..{top}")
    check_name(discount.name, f"{what}: name")
    for role in discount.roles:
        check_text(role, f"{what}: role", MAX_ID_CHARS)


# --- reading records back -----------------------------------------------------------------------


def texts(rec: Fields, name: str) -> tuple[str, ...]:
    values = rec.array(name)
    if not all(isinstance(v, str) for v in values):
        raise CorruptRecord(f"{rec.where}: {name} must be text")
    return tuple(values)


def parse_category(category_id: str, rec: Fields) -> Category:
    position = rec.opt_integer("position")
    return Category(
        category_id,
        rec.text("name"),
        0 if position is None else bounded(position, 0, MAX_POSITION, f"{rec.where}: position"),
    )


def parse_tax(tax_id: str, rec: Fields) -> Tax:
    return Tax(
        tax_id,
        rec.text("name"),
        bounded(rec.integer("rate_bp"), 0, BASIS_POINTS, f"{rec.where}: field 'rate_bp'"),
        rec.flag("included"),
    )


def parse_modifier_group(group_id: str, rec: Fields) -> ModifierGroup:
    mods = tuple(
        Modifier(
            m.text("id"),
            m.text("name"),
            bounded(
                m.integer("price_delta"), -MAX_AMOUNT, MAX_AMOUNT, f"{m.where}: field 'price_delta'"
            ),
        )
        for m in rec.records("modifiers")
    )
    return ModifierGroup(
        group_id, rec.text("name"), mods, rec.integer("min_select"), rec.integer("max_select")
    )


def parse_discount(discount_id: str, rec: Fields) -> Discount:
    kind = rec.choice("kind", DISCOUNT_KINDS)
    top = BASIS_POINTS if kind == "percent" else MAX_AMOUNT
    return Discount(
        discount_id,
        rec.text("name"),
        kind,
        rec.choice("scope", DISCOUNT_SCOPES),
        bounded(rec.integer("value"), 0, top, f"{rec.where}: field 'value'"),
        texts(rec, "roles"),
    )


def parse_role(name: str, rec: Fields) -> Role:
    return Role(name, frozenset(texts(rec, "rights")))


def parse_user(user_id: str, rec: Fields) -> User:
    return User(user_id, rec.text("name"), rec.text("role"), rec.opt_text("pin_hash") or "")


def parse_product(product_id: str, rec: Fields) -> Product:
    return Product(
        id=product_id,
        name=rec.text("name"),
        price=rec.amount("price"),
        category=rec.opt_text("category") or "",
        tax_id=rec.opt_text("tax_id"),
        modifier_groups=texts(rec, "modifier_groups"),
        active=rec.flag("active"),
        kitchen=rec.opt_text("kitchen") or "",
    )
