"""The console-authored catalog: products, modifiers, taxes, discounts, users, roles and venue settings.

Only the console writes this document; registers read it. Each entity is one plain record under its id, so a
console edit replaces the whole record and readers never see half an edit. Every value is checked against
``limits`` before it is written, and one record that does not parse (a price out of bounds written by a peer)
makes that one entity unusable, not the catalog: listing reads skip it and note it in the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    lookup_key,
    parse_each,
    parse_one,
    value_at,
)
from meshpos.model._writes import all_or_nothing, put, remove
from meshpos.model.catalog_load import load
from meshpos.model.catalog_types import (
    DISCOUNT_KINDS,
    DISCOUNT_SCOPES,
    MAX_POSITION,
    RIGHTS,
    Category,
    Discount,
    Modifier,
    ModifierGroup,
    Product,
    Role,
    Settings,
    Tax,
    User,
    check_amount,
    check_discount,
    check_id,
    hash_pin,
    parse_category,
    parse_discount,
    parse_modifier_group,
    parse_product,
    parse_role,
    parse_tax,
    parse_user,
    verify_pin,
    whole,
)
from meshpos.model.documents import CATALOG
from meshpos.model.limits import (
    MAX_AMOUNT,
    MAX_ID_CHARS,
    MAX_NOTE_CHARS,
    MAX_QUANTITY,
    check_name,
    check_text,
)
from meshpos.model.line_price import refuse_below_zero, refuse_group_below_zero
from meshpos.model.money import BASIS_POINTS

__all__ = [
    "DISCOUNT_KINDS",
    "DISCOUNT_SCOPES",
    "RIGHTS",
    "Catalog",
    "Category",
    "Discount",
    "Modifier",
    "ModifierGroup",
    "Product",
    "Role",
    "Settings",
    "Tax",
    "User",
    "hash_pin",
    "verify_pin",
]

T = TypeVar("T")


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
                "categories",
                "products",
                "taxes",
                "modifier_groups",
                "discounts",
                "roles",
                "users",
                "settings",
            )
        }
        # reads every tap repeats (a user's rights, the settings), kept until the document changes
        self._kept: dict[tuple[str, str], Any] = {}
        doc.observe(self._changed)

    def _changed(self, _event: object) -> None:
        """Any change to the document (a console edit, a peer's update, an undo) drops what was kept:
        the next read parses again (pycrdt calls this as each changing transaction commits)."""
        self._kept.clear()

    def _kept_read(self, key: tuple[str, str], read: Callable[[], T]) -> T:
        """``read()``, kept until the document changes (issue 18: a tap asks a user's rights, and the
        venue its settings, every time). Inside an open transaction nothing is kept or used: a change
        made in it is not seen until it commits. Only a read that returned is kept (a corrupt or
        unknown record raises, and is noted, every time)."""
        if getattr(self.doc, "_txn", True) is not None:  # (pycrdt's open transaction, if any)
            return read()
        if key not in self._kept:
            self._kept[key] = read()
        return self._kept[key]  # type: ignore[no-any-return]

    def _fields(self, kind: str, key: str) -> Fields | None:
        value = value_at(self._maps[kind], lookup_key(key, f"{kind} id"))
        return None if value is None else Fields(value, f"{self.name} {kind}/{key}")

    def _one(
        self, kind: str, key: str, parse: Callable[[str, Fields], T], unknown: MeshposError
    ) -> T:
        """One entity by id: ``unknown`` if absent, RecordUnusable (noted) if it does not parse. Kept
        until the document changes (``_kept_read``: a tap asks its product, tax and modifier groups,
        issue 18); an absent or corrupt one is asked (and noted) again every time."""
        if type(key) is not str:  # (refused by ``lookup_key``: nothing to keep it by)
            return self._read_one(kind, key, parse, unknown)
        return self._kept_read((kind, key), lambda: self._read_one(kind, key, parse, unknown))

    def _read_one(
        self, kind: str, key: str, parse: Callable[[str, Fields], T], unknown: MeshposError
    ) -> T:
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
            "products", product_id, parse_product, UnknownProduct(f"unknown product {product_id!r}")
        )

    def products(self) -> list[Product]:
        """Every product that parses, by category and name; a corrupt one is skipped (and noted)."""
        return sorted(
            self._all("products", parse_product), key=lambda p: (p.category, p.name, p.id)
        )

    def category(self, category_id: str) -> Category:
        return self._one(
            "categories",
            category_id,
            parse_category,
            UnknownRecord(f"unknown category {category_id!r}"),
        )

    def categories(self) -> list[Category]:
        """Every category that parses, by position and name."""
        return sorted(self._all("categories", parse_category), key=lambda c: (c.position, c.name))

    def taxes(self) -> list[Tax]:
        return self._all("taxes", parse_tax)

    def modifier_groups(self) -> list[ModifierGroup]:
        return self._all("modifier_groups", parse_modifier_group)

    def discounts(self) -> list[Discount]:
        return self._all("discounts", parse_discount)

    def roles(self) -> list[Role]:
        return self._all("roles", parse_role)

    def tax(self, tax_id: str) -> Tax:
        return self._one("taxes", tax_id, parse_tax, UnknownRecord(f"unknown tax {tax_id!r}"))

    def modifier_group(self, group_id: str) -> ModifierGroup:
        return self._one(
            "modifier_groups",
            group_id,
            parse_modifier_group,
            UnknownRecord(f"unknown modifier group {group_id!r}"),
        )

    def discount(self, discount_id: str) -> Discount:
        return self._one(
            "discounts",
            discount_id,
            parse_discount,
            UnknownRecord(f"unknown discount {discount_id!r}"),
        )

    def user(self, user_id: str) -> User:
        return self._one("users", user_id, parse_user, UnknownRecord(f"unknown user {user_id!r}"))

    def users(self) -> list[User]:
        """Every user that parses, by id; a corrupt one is skipped (and noted)."""
        return self._all("users", parse_user)

    def role(self, name: str) -> Role:
        return self._one("roles", name, parse_role, UnknownRecord(f"unknown role {name!r}"))

    def rights(self, user_id: str) -> frozenset[str]:
        return self._kept_read(
            ("rights", user_id), lambda: self.role(self.user(user_id).role).rights
        )

    def require(self, user_id: str, right: str) -> None:
        if right not in self.rights(user_id):
            user = self.user(user_id)
            raise PermissionDenied(
                f"user {user.name!r} (role {user.role!r}) may not {right.replace('_', ' ')}",
                right,
            )

    def may_give(self, user_id: str, discount: Discount) -> None:
        """PermissionDenied unless the user has the discount right and, when the discount names the
        roles that may give it, one of them."""
        self.require(user_id, "discount")
        user = self.user(user_id)
        if discount.roles and user.role not in discount.roles:
            raise PermissionDenied(
                f"user {user.name!r} (role {user.role!r}) may not give {discount.name!r}: "
                f"only {', '.join(discount.roles)}",
                "discount",
            )

    def settings(self) -> Settings:
        """The venue settings; with a registry, corrupt settings are noted and the defaults are used
        (selling on in UTC beats a register that cannot tell which day it is)."""
        try:
            return self._kept_read(("settings", ""), self._settings)
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
            name=rec.opt_text("name") or "",
            receipt_footer=rec.opt_text("receipt_footer") or "",
            blind_count=bool(rec.opt_flag("blind_count")),
        )

    # writes (console side)
    def put_product(
        self, product: Product, group_of: Callable[[str], ModifierGroup] | None = None
    ) -> None:
        check_id(product.id, "product")
        what = f"product {product.id!r}"
        check_amount(product.price, f"{what}: price", 0)
        check_name(product.name, f"{what}: name")
        check_text(product.category, f"{what}: category", MAX_ID_CHARS)
        check_text(product.kitchen, f"{what}: kitchen", MAX_ID_CHARS)
        for group in product.modifier_groups:
            check_text(group, f"{what}: modifier group id", MAX_ID_CHARS)
        if product.tax_id is not None:
            check_text(product.tax_id, f"{what}: tax id", MAX_ID_CHARS)
        if product.tax_id is not None and product.tax_id not in self._maps["taxes"]:
            raise UnknownRecord(f"product {product.id!r}: unknown tax {product.tax_id!r}")
        for group in product.modifier_groups:
            if group not in self._maps["modifier_groups"]:
                raise UnknownRecord(f"product {product.id!r}: unknown modifier group {group!r}")
        refuse_below_zero(product, group_of or self.modifier_group, self.settings)
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
                "kitchen": product.kitchen,
            },
        )

    def put_tax(self, tax: Tax) -> None:
        check_id(tax.id, "tax")
        if not whole(tax.rate_bp) or not 0 <= tax.rate_bp <= BASIS_POINTS:
            raise DomainError(f"tax {tax.id!r}: rate must be 0..10000 basis points")
        check_name(tax.name, f"tax {tax.id!r}: name")
        self._put(
            "taxes", tax.id, {"name": tax.name, "rate_bp": tax.rate_bp, "included": tax.included}
        )

    def put_modifier_group(self, group: ModifierGroup, *, products_checked: bool = True) -> None:
        """``products_checked=False``: the caller checks the products offering it afterwards (``load``)."""
        check_id(group.id, "modifier group")
        what = f"modifier group {group.id!r}"
        if not (whole(group.min_select) and whole(group.max_select)) or not (
            0 <= group.min_select <= group.max_select <= MAX_QUANTITY
        ):
            raise DomainError(f"{what}: need 0 <= min_select <= max_select")
        check_name(group.name, f"{what}: name")
        for m in group.modifiers:
            check_text(m.id, f"{what}: modifier id", MAX_ID_CHARS)
            check_name(m.name, f"{what}: modifier {m.id!r} name")
            check_amount(m.price_delta, f"{what}: modifier {m.id!r} price_delta", -MAX_AMOUNT)
        if products_checked:
            refuse_group_below_zero(group, self.products(), self.modifier_group, self.settings)
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

    def put_category(self, category: Category) -> None:
        check_id(category.id, "category")
        check_name(category.name, f"category {category.id!r}: name")
        if not whole(category.position) or not 0 <= category.position <= MAX_POSITION:
            raise InvalidInput(f"category {category.id!r}: position must be 0..{MAX_POSITION}")
        self._put("categories", category.id, {"name": category.name, "position": category.position})

    def put_discount(self, discount: Discount) -> None:
        check_discount(discount)
        for role in discount.roles:
            if role not in self._maps["roles"]:
                raise UnknownRecord(f"discount {discount.id!r}: unknown role {role!r}")
        self._put(
            "discounts",
            discount.id,
            {
                "name": discount.name,
                "kind": discount.kind,
                "scope": discount.scope,
                "value": discount.value,
                "roles": list(discount.roles),
            },
        )

    def put_role(self, role: Role) -> None:
        unknown = set(role.rights) - set(RIGHTS)
        if unknown:
            raise DomainError(
                f"role {role.name!r}: unknown rights {sorted(unknown)} (known: {RIGHTS})"
            )
        check_id(role.name, "role")
        self._put("roles", role.name, {"rights": sorted(role.rights)})

    def put_user(self, user: User) -> None:
        check_id(user.id, "user")
        check_text(user.role, f"user {user.id!r}: role", MAX_ID_CHARS)
        if user.role not in self._maps["roles"]:
            raise UnknownRecord(f"user {user.id!r}: unknown role {user.role!r}")
        check_name(user.name, f"user {user.id!r}: name")
        check_text(user.pin_hash, f"user {user.id!r}: PIN hash", MAX_NOTE_CHARS)
        self._put(
            "users", user.id, {"name": user.name, "role": user.role, "pin_hash": user.pin_hash}
        )

    def put_settings(self, settings: Settings) -> None:
        if not whole(settings.day_cutoff_hour) or not 0 <= settings.day_cutoff_hour <= 23:
            raise DomainError("day_cutoff_hour must be 0..23")
        check_text(settings.currency, "settings: currency", MAX_ID_CHARS)
        check_text(settings.receipt_header, "settings: receipt header", MAX_NOTE_CHARS)
        check_text(settings.timezone, "settings: timezone", MAX_ID_CHARS)
        check_text(settings.name, "settings: name")
        check_text(settings.receipt_footer, "settings: receipt footer", MAX_NOTE_CHARS)
        if not isinstance(settings.blind_count, bool):
            raise DomainError("blind_count must be true or false")
        with all_or_nothing("settings"), self.doc.transaction():
            for key, value in (
                ("currency", settings.currency),
                ("receipt_header", settings.receipt_header),
                ("day_cutoff_hour", settings.day_cutoff_hour),
                ("timezone", settings.timezone),
                ("name", settings.name),
                ("receipt_footer", settings.receipt_footer),
                ("blind_count", settings.blind_count),
            ):
                put(self._maps["settings"], key, value, f"{self.name} settings/{key}")

    def load(
        self,
        entries: Iterable[
            Category | Tax | ModifierGroup | Product | Discount | Role | User | Settings
        ],
    ) -> None:
        """Write many entities in one transaction (one update), in dependency order as given
        (``catalog_load.load``: each product checked once, against the groups the load leaves)."""
        load(self, entries)

    def remove(self, kind: str, key: str) -> None:
        """Delete one entity (``kind``: categories, taxes, modifier_groups, discounts, roles, users);
        refused while a product, discount or user still names it, so no reader finds a dangling id."""
        if kind not in self._maps or kind in ("settings", "products"):
            raise InvalidInput(f"cannot delete from {kind!r}")
        word = _ONE.get(kind, kind)
        if key not in self._maps[kind]:
            raise UnknownRecord(f"unknown {word} {key!r}")
        users = self._using(kind, key)
        if users:
            raise DomainError(
                f"{word} {key!r} is still used by {', '.join(users[:5])}"
                + (f" and {len(users) - 5} more" if len(users) > 5 else "")
            )
        remove(self._maps[kind], key, f"{self.name} {kind}/{key}")

    def _using(self, kind: str, key: str) -> list[str]:
        """What names ``kind``/``key``: products (category, tax, groups), discounts and users (roles)."""
        found: list[str] = []
        if kind in ("categories", "taxes", "modifier_groups"):
            for p in self._all("products", parse_product):
                named = {
                    "categories": (p.category,),
                    "taxes": (p.tax_id,),
                    "modifier_groups": p.modifier_groups,
                }[kind]
                if key in named:
                    found.append(f"product {p.id!r}")
        if kind == "roles":
            found += [f"user {u.id!r}" for u in self.users() if u.role == key]
            found += [f"discount {d.id!r}" for d in self.discounts() if key in d.roles]
        return found

    def _put(self, kind: str, key: str, record: object) -> None:
        put(self._maps[kind], key, record, f"{self.name} {kind}/{key}")


# one entity of each table ``remove`` takes, in words ("taxes" cut to "taxe" before)
_ONE = {
    "categories": "category",
    "taxes": "tax",
    "modifier_groups": "modifier group",
    "discounts": "discount",
    "roles": "role",
    "users": "user",
}
