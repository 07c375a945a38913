"""The console-authored catalog: products, modifiers, taxes, discounts, users, roles and venue settings.

Only the console writes this document; registers read it. Each entity is one plain record under its id, so a
console edit replaces the whole record and readers never see half an edit. Every value is checked against
``limits`` before it is written, and one record that does not parse (a price out of bounds written by a peer)
makes that one entity unusable, not the catalog: listing reads skip it and note it in the registry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pycrdt import Doc, Map

from meshpos.errors import (
    CorruptRecord,
    DomainError,
    InvalidInput,
    MeshposError,
    PermissionDenied,
    UnknownProduct,
    UnknownRecord,
)
from meshpos.model._records import (
    CorruptRegistry,
    Fields,
    bounded,
    lookup_key,
    parse_each,
    parse_one,
)
from meshpos.model._writes import all_or_nothing, put
from meshpos.model.documents import CATALOG
from meshpos.model.limits import (
    MAX_AMOUNT,
    MAX_ID_CHARS,
    MAX_NOTE_CHARS,
    MAX_QUANTITY,
    check_text,
)

T = TypeVar("T")

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


@dataclass(frozen=True, slots=True)
class Discount:
    id: str
    name: str
    kind: str  # percent | fixed
    scope: str  # line | order
    value: int  # basis points for percent, minor units for fixed


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


# --- PINs ---------------------------------------------------------------------------------------

_SCRYPT = {"n": 2**12, "r": 8, "p": 1}


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """scrypt, so a leaked catalog does not give away 4-digit PINs by a table lookup."""
    if not pin.isdigit() or not 4 <= len(pin) <= 8:
        raise DomainError("a PIN is 4 to 8 digits")
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


# --- the document -------------------------------------------------------------------------------


class Catalog:
    """Typed reads of the catalog document, plus the console's writes."""

    def __init__(
        self, doc: Doc[Any], name: str = CATALOG, corrupt: CorruptRegistry | None = None
    ) -> None:
        """``corrupt``: where listing reads note the records they skip; None makes them strict."""
        self.doc = doc
        self.name = name
        self.corrupt = corrupt
        self._maps = {
            key: doc.get(key, type=Map)
            for key in (
                "products",
                "taxes",
                "modifier_groups",
                "discounts",
                "roles",
                "users",
                "settings",
            )
        }

    def _fields(self, kind: str, key: str) -> Fields | None:
        value = self._maps[kind].get(lookup_key(key, f"{kind} id"))
        return None if value is None else Fields(value, f"{self.name} {kind}/{key}")

    def _one(
        self, kind: str, key: str, parse: Callable[[str, Fields], T], unknown: MeshposError
    ) -> T:
        """One entity by id: ``unknown`` if absent, RecordUnusable (noted) if it does not parse."""
        rec = self._fields(kind, key)
        if rec is None:
            raise unknown
        return parse_one(
            f"{kind}/{key}", lambda: parse(key, rec), doc=self.name, corrupt=self.corrupt
        )

    def _all(self, kind: str, parse: Callable[[str, Fields], T]) -> list[T]:
        """Every entity of ``kind`` that parses, by id; a corrupt one is skipped (and noted)."""
        items = self._maps[kind]
        return list(
            parse_each(
                ((k, items.get(k)) for k in sorted(items.keys())),
                lambda k, v: parse(k, Fields(v, f"{self.name} {kind}/{k}")),
                doc=self.name,
                root=kind,
                corrupt=self.corrupt,
            )
        )

    # reads
    def product(self, product_id: str) -> Product:
        return self._one(
            "products", product_id, _product, UnknownProduct(f"unknown product {product_id!r}")
        )

    def products(self) -> list[Product]:
        """Every product that parses, by category and name; a corrupt one is skipped (and noted)."""
        return sorted(self._all("products", _product), key=lambda p: (p.category, p.name, p.id))

    def tax(self, tax_id: str) -> Tax:
        return self._one("taxes", tax_id, _tax, UnknownRecord(f"unknown tax {tax_id!r}"))

    def modifier_group(self, group_id: str) -> ModifierGroup:
        return self._one(
            "modifier_groups",
            group_id,
            _modifier_group,
            UnknownRecord(f"unknown modifier group {group_id!r}"),
        )

    def discount(self, discount_id: str) -> Discount:
        return self._one(
            "discounts", discount_id, _discount, UnknownRecord(f"unknown discount {discount_id!r}")
        )

    def user(self, user_id: str) -> User:
        return self._one("users", user_id, _user, UnknownRecord(f"unknown user {user_id!r}"))

    def users(self) -> list[User]:
        """Every user that parses, by id; a corrupt one is skipped (and noted)."""
        return self._all("users", _user)

    def role(self, name: str) -> Role:
        return self._one("roles", name, _role, UnknownRecord(f"unknown role {name!r}"))

    def rights(self, user_id: str) -> frozenset[str]:
        return self.role(self.user(user_id).role).rights

    def require(self, user_id: str, right: str) -> None:
        if right not in self.rights(user_id):
            user = self.user(user_id)
            raise PermissionDenied(
                f"user {user.name!r} (role {user.role!r}) may not {right.replace('_', ' ')}"
            )

    def settings(self) -> Settings:
        """The venue settings; with a registry, corrupt settings are noted and the defaults are used
        (selling on in UTC beats a register that cannot tell which day it is)."""
        try:
            return self._settings()
        except CorruptRecord as exc:
            if self.corrupt is None:
                raise
            self.corrupt.note(self.name, "settings", exc)
            return Settings()

    def _settings(self) -> Settings:
        raw = self._maps["settings"]
        where = f"{self.name} settings"
        rec = Fields(dict(raw.items()), where)
        default = Settings()
        cutoff = rec.opt_integer("day_cutoff_hour")
        return Settings(
            currency=rec.opt_text("currency") or default.currency,
            receipt_header=rec.opt_text("receipt_header") or "",
            day_cutoff_hour=default.day_cutoff_hour if cutoff is None else cutoff,
            timezone=rec.opt_text("timezone") or default.timezone,
        )

    # writes (console side)
    def put_product(self, product: Product) -> None:
        _check_id(product.id, "product")
        what = f"product {product.id!r}"
        _check_amount(product.price, f"{what}: price", 0)
        check_text(product.name, f"{what}: name")
        check_text(product.category, f"{what}: category")
        for group in product.modifier_groups:
            check_text(group, f"{what}: modifier group id", MAX_ID_CHARS)
        if product.tax_id is not None:
            check_text(product.tax_id, f"{what}: tax id", MAX_ID_CHARS)
        if product.tax_id is not None and product.tax_id not in self._maps["taxes"]:
            raise UnknownRecord(f"product {product.id!r}: unknown tax {product.tax_id!r}")
        for group in product.modifier_groups:
            if group not in self._maps["modifier_groups"]:
                raise UnknownRecord(f"product {product.id!r}: unknown modifier group {group!r}")
        self._put(
            "products",
            product.id,
            {
                "name": product.name,
                "price": product.price,
                "category": product.category,
                "tax_id": product.tax_id,
                "modifier_groups": list(product.modifier_groups),
                "active": product.active,
            },
        )

    def put_tax(self, tax: Tax) -> None:
        _check_id(tax.id, "tax")
        if not _whole(tax.rate_bp) or not 0 <= tax.rate_bp <= 10_000:
            raise DomainError(f"tax {tax.id!r}: rate must be 0..10000 basis points")
        check_text(tax.name, f"tax {tax.id!r}: name")
        self._put(
            "taxes", tax.id, {"name": tax.name, "rate_bp": tax.rate_bp, "included": tax.included}
        )

    def put_modifier_group(self, group: ModifierGroup) -> None:
        _check_id(group.id, "modifier group")
        what = f"modifier group {group.id!r}"
        if not (_whole(group.min_select) and _whole(group.max_select)) or not (
            0 <= group.min_select <= group.max_select <= MAX_QUANTITY
        ):
            raise DomainError(f"{what}: need 0 <= min_select <= max_select")
        check_text(group.name, f"{what}: name")
        for m in group.modifiers:
            check_text(m.id, f"{what}: modifier id", MAX_ID_CHARS)
            check_text(m.name, f"{what}: modifier {m.id!r} name")
            _check_amount(m.price_delta, f"{what}: modifier {m.id!r} price_delta", -MAX_AMOUNT)
        self._put(
            "modifier_groups",
            group.id,
            {
                "name": group.name,
                "min_select": group.min_select,
                "max_select": group.max_select,
                "modifiers": [
                    {"id": m.id, "name": m.name, "price_delta": m.price_delta}
                    for m in group.modifiers
                ],
            },
        )

    def put_discount(self, discount: Discount) -> None:
        _check_id(discount.id, "discount")
        if discount.kind not in DISCOUNT_KINDS or discount.scope not in DISCOUNT_SCOPES:
            raise DomainError(
                f"discount {discount.id!r}: kind must be percent/fixed and scope line/order"
            )
        top = 10_000 if discount.kind == "percent" else MAX_AMOUNT
        if not _whole(discount.value) or not 0 <= discount.value <= top:
            raise DomainError(f"discount {discount.id!r}: value must be 0..{top}")
        check_text(discount.name, f"discount {discount.id!r}: name")
        self._put(
            "discounts",
            discount.id,
            {
                "name": discount.name,
                "kind": discount.kind,
                "scope": discount.scope,
                "value": discount.value,
            },
        )

    def put_role(self, role: Role) -> None:
        unknown = set(role.rights) - set(RIGHTS)
        if unknown:
            raise DomainError(
                f"role {role.name!r}: unknown rights {sorted(unknown)} (known: {RIGHTS})"
            )
        check_text(role.name, "role name", MAX_ID_CHARS)
        self._put("roles", role.name, {"rights": sorted(role.rights)})

    def put_user(self, user: User) -> None:
        _check_id(user.id, "user")
        check_text(user.role, f"user {user.id!r}: role", MAX_ID_CHARS)
        if user.role not in self._maps["roles"]:
            raise UnknownRecord(f"user {user.id!r}: unknown role {user.role!r}")
        check_text(user.name, f"user {user.id!r}: name")
        check_text(user.pin_hash, f"user {user.id!r}: PIN hash", MAX_NOTE_CHARS)
        self._put(
            "users", user.id, {"name": user.name, "role": user.role, "pin_hash": user.pin_hash}
        )

    def put_settings(self, settings: Settings) -> None:
        if not _whole(settings.day_cutoff_hour) or not 0 <= settings.day_cutoff_hour <= 23:
            raise DomainError("day_cutoff_hour must be 0..23")
        check_text(settings.currency, "settings: currency", MAX_ID_CHARS)
        check_text(settings.receipt_header, "settings: receipt header", MAX_NOTE_CHARS)
        check_text(settings.timezone, "settings: timezone", MAX_ID_CHARS)
        with all_or_nothing("settings"), self.doc.transaction():
            for key, value in (
                ("currency", settings.currency),
                ("receipt_header", settings.receipt_header),
                ("day_cutoff_hour", settings.day_cutoff_hour),
                ("timezone", settings.timezone),
            ):
                put(self._maps["settings"], key, value, f"{self.name} settings/{key}")

    def load(
        self, entries: Iterable[Tax | ModifierGroup | Product | Discount | Role | User | Settings]
    ) -> None:
        """Write many entities in one transaction (one update), in dependency order as given."""
        putters = {
            Tax: self.put_tax,
            ModifierGroup: self.put_modifier_group,
            Product: self.put_product,
            Discount: self.put_discount,
            Role: self.put_role,
            User: self.put_user,
            Settings: self.put_settings,
        }
        with all_or_nothing(f"{self.name} load"), self.doc.transaction():
            for entry in entries:
                putters[type(entry)](entry)  # type: ignore[operator]

    def _put(self, kind: str, key: str, record: object) -> None:
        put(self._maps[kind], key, record, f"{self.name} {kind}/{key}")


def _check_id(value: str, what: str) -> None:
    check_text(value, f"{what} id", MAX_ID_CHARS)
    if not value or len(value) > 64 or "/" in value:
        raise DomainError(f"{what} id {value!r}: 1-64 characters, no '/'")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_amount(value: object, what: str, low: int) -> None:
    if not _whole(value):
        raise InvalidInput(f"{what} must be a whole number of minor units, got {value!r}")
    assert isinstance(value, int)
    if not low <= value <= MAX_AMOUNT:
        raise InvalidInput(f"{what} must be between {low} and {MAX_AMOUNT}, got {value}")


def _tax(tax_id: str, rec: Fields) -> Tax:
    return Tax(
        tax_id,
        rec.text("name"),
        bounded(rec.integer("rate_bp"), 0, 10_000, f"{rec.where}: field 'rate_bp'"),
        rec.flag("included"),
    )


def _modifier_group(group_id: str, rec: Fields) -> ModifierGroup:
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


def _discount(discount_id: str, rec: Fields) -> Discount:
    kind = rec.choice("kind", DISCOUNT_KINDS)
    top = 10_000 if kind == "percent" else MAX_AMOUNT
    return Discount(
        discount_id,
        rec.text("name"),
        kind,
        rec.choice("scope", DISCOUNT_SCOPES),
        bounded(rec.integer("value"), 0, top, f"{rec.where}: field 'value'"),
    )


def _role(name: str, rec: Fields) -> Role:
    rights = rec.array("rights")
    if not all(isinstance(r, str) for r in rights):
        raise CorruptRecord(f"{rec.where}: rights must be text")
    return Role(name, frozenset(rights))


def _user(user_id: str, rec: Fields) -> User:
    return User(user_id, rec.text("name"), rec.text("role"), rec.opt_text("pin_hash") or "")


def _product(product_id: str, rec: Fields) -> Product:
    groups = rec.array("modifier_groups")
    if not all(isinstance(g, str) for g in groups):
        raise CorruptRecord(f"{rec.where}: modifier_groups must be text")
    return Product(
        id=product_id,
        name=rec.text("name"),
        price=rec.amount("price"),
        category=rec.opt_text("category") or "",
        tax_id=rec.opt_text("tax_id"),
        modifier_groups=tuple(groups),
        active=rec.flag("active"),
    )
