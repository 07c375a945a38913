"""The console-authored catalog: products, modifiers, taxes, discounts, users, roles and venue settings.

Only the console writes this document; registers read it. Each entity is one plain record under its id, so a
console edit replaces the whole record and readers never see half an edit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Map

from meshpos.errors import (
    CorruptRecord,
    DomainError,
    PermissionDenied,
    UnknownProduct,
    UnknownRecord,
)
from meshpos.model._records import Fields

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

    def __init__(self, doc: Doc[Any], name: str = "catalog") -> None:
        self.doc = doc
        self.name = name
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
        value = self._maps[kind].get(key)
        return None if value is None else Fields(value, f"{self.name} {kind}/{key}")

    # reads
    def product(self, product_id: str) -> Product:
        rec = self._fields("products", product_id)
        if rec is None:
            raise UnknownProduct(f"unknown product {product_id!r}")
        return _product(product_id, rec)

    def products(self) -> list[Product]:
        return sorted(
            (
                _product(k, Fields(v, f"{self.name} products/{k}"))
                for k, v in self._maps["products"].items()
            ),
            key=lambda p: (p.category, p.name, p.id),
        )

    def tax(self, tax_id: str) -> Tax:
        rec = self._fields("taxes", tax_id)
        if rec is None:
            raise UnknownRecord(f"unknown tax {tax_id!r}")
        return Tax(tax_id, rec.text("name"), rec.integer("rate_bp"), rec.flag("included"))

    def modifier_group(self, group_id: str) -> ModifierGroup:
        rec = self._fields("modifier_groups", group_id)
        if rec is None:
            raise UnknownRecord(f"unknown modifier group {group_id!r}")
        mods = tuple(
            Modifier(m.text("id"), m.text("name"), m.integer("price_delta"))
            for m in rec.records("modifiers")
        )
        return ModifierGroup(
            group_id, rec.text("name"), mods, rec.integer("min_select"), rec.integer("max_select")
        )

    def discount(self, discount_id: str) -> Discount:
        rec = self._fields("discounts", discount_id)
        if rec is None:
            raise UnknownRecord(f"unknown discount {discount_id!r}")
        return Discount(
            discount_id,
            rec.text("name"),
            rec.choice("kind", DISCOUNT_KINDS),
            rec.choice("scope", DISCOUNT_SCOPES),
            rec.integer("value"),
        )

    def user(self, user_id: str) -> User:
        rec = self._fields("users", user_id)
        if rec is None:
            raise UnknownRecord(f"unknown user {user_id!r}")
        return User(user_id, rec.text("name"), rec.text("role"), rec.opt_text("pin_hash") or "")

    def users(self) -> list[User]:
        return [self.user(k) for k in sorted(self._maps["users"].keys())]

    def role(self, name: str) -> Role:
        rec = self._fields("roles", name)
        if rec is None:
            raise UnknownRecord(f"unknown role {name!r}")
        rights = rec.array("rights")
        if not all(isinstance(r, str) for r in rights):
            raise CorruptRecord(f"{rec.where}: rights must be text")
        return Role(name, frozenset(rights))

    def rights(self, user_id: str) -> frozenset[str]:
        return self.role(self.user(user_id).role).rights

    def require(self, user_id: str, right: str) -> None:
        if right not in self.rights(user_id):
            user = self.user(user_id)
            raise PermissionDenied(
                f"user {user.name!r} (role {user.role!r}) may not {right.replace('_', ' ')}"
            )

    def settings(self) -> Settings:
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
        if product.price < 0:
            raise DomainError(f"product {product.id!r}: price must not be negative")
        if product.tax_id is not None and product.tax_id not in self._maps["taxes"]:
            raise UnknownRecord(f"product {product.id!r}: unknown tax {product.tax_id!r}")
        for group in product.modifier_groups:
            if group not in self._maps["modifier_groups"]:
                raise UnknownRecord(f"product {product.id!r}: unknown modifier group {group!r}")
        self._maps["products"][product.id] = {
            "name": product.name,
            "price": product.price,
            "category": product.category,
            "tax_id": product.tax_id,
            "modifier_groups": list(product.modifier_groups),
            "active": product.active,
        }

    def put_tax(self, tax: Tax) -> None:
        _check_id(tax.id, "tax")
        if not 0 <= tax.rate_bp <= 10_000:
            raise DomainError(f"tax {tax.id!r}: rate must be 0..10000 basis points")
        self._maps["taxes"][tax.id] = {
            "name": tax.name,
            "rate_bp": tax.rate_bp,
            "included": tax.included,
        }

    def put_modifier_group(self, group: ModifierGroup) -> None:
        _check_id(group.id, "modifier group")
        if not 0 <= group.min_select <= group.max_select:
            raise DomainError(f"modifier group {group.id!r}: need 0 <= min_select <= max_select")
        self._maps["modifier_groups"][group.id] = {
            "name": group.name,
            "min_select": group.min_select,
            "max_select": group.max_select,
            "modifiers": [
                {"id": m.id, "name": m.name, "price_delta": m.price_delta} for m in group.modifiers
            ],
        }

    def put_discount(self, discount: Discount) -> None:
        _check_id(discount.id, "discount")
        if discount.kind not in DISCOUNT_KINDS or discount.scope not in DISCOUNT_SCOPES:
            raise DomainError(
                f"discount {discount.id!r}: kind must be percent/fixed and scope line/order"
            )
        if discount.value < 0 or (discount.kind == "percent" and discount.value > 10_000):
            raise DomainError(f"discount {discount.id!r}: value out of range")
        self._maps["discounts"][discount.id] = {
            "name": discount.name,
            "kind": discount.kind,
            "scope": discount.scope,
            "value": discount.value,
        }

    def put_role(self, role: Role) -> None:
        unknown = set(role.rights) - set(RIGHTS)
        if unknown:
            raise DomainError(
                f"role {role.name!r}: unknown rights {sorted(unknown)} (known: {RIGHTS})"
            )
        self._maps["roles"][role.name] = {"rights": sorted(role.rights)}

    def put_user(self, user: User) -> None:
        _check_id(user.id, "user")
        if user.role not in self._maps["roles"]:
            raise UnknownRecord(f"user {user.id!r}: unknown role {user.role!r}")
        self._maps["users"][user.id] = {
            "name": user.name,
            "role": user.role,
            "pin_hash": user.pin_hash,
        }

    def put_settings(self, settings: Settings) -> None:
        if not 0 <= settings.day_cutoff_hour <= 23:
            raise DomainError("day_cutoff_hour must be 0..23")
        with self.doc.transaction():
            target = self._maps["settings"]
            target["currency"] = settings.currency
            target["receipt_header"] = settings.receipt_header
            target["day_cutoff_hour"] = settings.day_cutoff_hour
            target["timezone"] = settings.timezone

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
        with self.doc.transaction():
            for entry in entries:
                putters[type(entry)](entry)  # type: ignore[operator]


def _check_id(value: str, what: str) -> None:
    if not value or len(value) > 64 or "/" in value:
        raise DomainError(f"{what} id {value!r}: 1-64 characters, no '/'")


def _product(product_id: str, rec: Fields) -> Product:
    groups = rec.array("modifier_groups")
    if not all(isinstance(g, str) for g in groups):
        raise CorruptRecord(f"{rec.where}: modifier_groups must be text")
    return Product(
        id=product_id,
        name=rec.text("name"),
        price=rec.integer("price"),
        category=rec.opt_text("category") or "",
        tax_id=rec.opt_text("tax_id"),
        modifier_groups=tuple(groups),
        active=rec.flag("active"),
    )
