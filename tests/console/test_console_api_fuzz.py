"""The console's JSON API against its own OpenAPI document, fuzzed by schemathesis on a real ``meshpos
console`` process with all of schemathesis' checks: no answer is a 5xx, every answer is documented (status,
content type, headers, body), data outside the schema is refused, schema-valid data is never refused as
malformed (400), a request without the admin token is 401, and a refused edit stores nothing (the catalog
and the console's count of committed updates are unchanged). Half of the schema-valid edits name the real
product, so they reach the catalog's rules. Deterministic and bounded: ``EXAMPLES`` cases per operation and
mode, ``BUDGET_S`` for all of them (past it each route still gets its first case: under load the last
routes went untried and the test failed). Hostile bodies and the document's bounds are checked on their own.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode

from meshpos.console.api import BASE_ROUTES
from meshpos.console.api_catalog import CATALOG_ROUTES
from meshpos.console.api_metrics import METRICS_ROUTES
from meshpos.console.api_reports import REPORT_ROUTES
from meshpos.console.calls import CONSOLE_USER
from meshpos.model.limits import (
    MAX_AMOUNT,
    MAX_CATALOG_ID_CHARS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    text_problem,
)

from ..fuzz_auth import auth_for, operations_of
from ..mesh.kit import ConsoleProcess, make_venue

EXAMPLES = 20  # per operation and generation mode: the whole run stays around a minute
BUDGET_S = 120.0  # the whole fuzz run (on a loaded machine); the console's start comes on top
# a schema-valid request is never refused as malformed (400): an unknown product or tax is 404, a rule of
# the catalog 422
VALID_DATA_ANSWERS = ["2xx", "404", "409", "422"]
PRODUCT = "latte"


class Fuzzed:
    """The console under test: its URL, admin token, venue, and a seeded product to edit."""

    def __init__(self, root: Path) -> None:
        authority = make_venue(root)
        self.venue = authority.venue_id
        self.process = ConsoleProcess(root, [authority.directory]).start()
        self.api = str(self.process.ready["api"])
        self.headers = {
            "Authorization": f"Bearer {(root / 'console-admin.token').read_text().strip()}"
        }
        self.session = requests.Session()
        self.session.trust_env = False  # loopback: no proxies
        self.process.call(
            "POST",
            f"/api/venues/{self.venue}/products",
            {"id": PRODUCT, "name": "Latte", "price": 350},
        )
        self.started = time.monotonic()

    def get(self, path: str) -> Any:
        answer = self.session.get(f"{self.api}{path}", headers=self.headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def stored(self) -> tuple[Any, int]:
        """What an edit changes: the catalog with its stop marks, and the committed updates."""
        status = self.get(f"/api/venues/{self.venue}/status")
        return self.get(f"/api/venues/{self.venue}/catalog"), status["counters"].get("updates", 0)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    console = Fuzzed(tmp_path_factory.mktemp("console-fuzz"))
    try:
        yield console
    finally:
        console.process.stop()
        print(f"\nconsole API fuzz: {time.monotonic() - console.started:.1f} s")


def _cases(fuzzed: Fuzzed, operation: Any, mode: GenerationMode) -> st.SearchStrategy[Any]:
    """The operation's cases for the console's venue; half of the schema-valid ones edit the real product
    (as the console), so they get past the lookups into the catalog's rules."""
    fixed = {"venue": fuzzed.venue} if "{venue}" in operation.path else None
    cases = operation.as_strategy(mode, path_parameters=fixed)
    if mode is GenerationMode.NEGATIVE:
        return cases

    def real(case: Any) -> Any:
        if isinstance(case.body, dict):
            for name, value in (
                ("product_id", PRODUCT),
                ("id", PRODUCT),
                ("user", CONSOLE_USER),
                ("timezone", "UTC"),  # a made-up time zone is a 422
            ):
                if name in case.body:
                    case.body[name] = value
            case.body.pop("tax_id", None)  # made-up taxes and modifier groups are 404s
            case.body.pop("modifier_groups", None)
        return case

    return st.one_of(cases, cases.map(real))


@pytest.mark.slow
def test_console_api_conforms_to_its_document_and_refusals_store_nothing(fuzzed: Fuzzed) -> None:
    config = schemathesis.Config.from_dict(
        {"checks": {"positive_data_acceptance": {"expected-statuses": VALID_DATA_ANSWERS}}}
    )
    schema = schemathesis.openapi.from_dict(fuzzed.get("/api/openapi.json"), config=config)
    schema.config.update(base_url=fuzzed.api)
    tried: Counter[str] = Counter()
    reached: set[str] = set()  # (on a loaded machine the budget ran out before the last routes)
    end = time.monotonic() + BUDGET_S
    operations = operations_of(schema.get_all_operations())
    for operation in operations:
        # nothing to make invalid in an operation without parameters or body (the path is fixed)
        negatable = bool(len(operation.query) or len(operation.body))
        for mode in [GenerationMode.POSITIVE] + [GenerationMode.NEGATIVE] * negatable:

            @hypothesis.given(case=_cases(fuzzed, operation, mode))
            @hypothesis.settings(
                max_examples=EXAMPLES,
                deadline=None,
                suppress_health_check=list(hypothesis.HealthCheck),
                derandomize=True,
                database=None,
                phases=[hypothesis.Phase.generate],
            )
            def fuzz(case: Any) -> None:
                route = f"{case.method} {case.operation.path}"
                if time.monotonic() > end and route in reached:
                    return  # the budget is spent: each route still gets its first case
                reached.add(route)
                before = fuzzed.stored() if case.method in ("POST", "PUT", "DELETE") else None
                headers = auth_for(case, fuzzed.headers)
                answer = case.call_and_validate(session=fuzzed.session, headers=headers)
                tried[f"{case.method} {case.operation.path} {answer.status_code}"] += 1
                if before is not None and answer.status_code >= 400:
                    assert fuzzed.stored() == before, (
                        f"{case.method} {case.path} answered {answer.status_code} "
                        f"{answer.text[:200]} but changed what the console stores: "
                        f"{json.dumps(case.body)[:200]}"
                    )

            fuzz()
    print("\n" + "\n".join(f"{n:4} x {key}" for key, n in sorted(tried.items())))
    covered = {key.rsplit(" ", 1)[0] for key in tried}
    assert covered == {f"{op.method.upper()} {op.path}" for op in operations}, "every route tried"
    assert any(key.startswith("POST") and key.endswith(" 200") for key in tried)  # edits went in


def test_console_document_describes_every_route_with_the_bounds_of_limits(fuzzed: Fuzzed) -> None:
    doc = fuzzed.get("/api/openapi.json")
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] == "meshpos console API"
    described = {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}
    table = (*BASE_ROUTES, *CATALOG_ROUTES, *REPORT_ROUTES, *METRICS_ROUTES)
    routes = {(r.method, r.path) for r in table} | {("GET", "/api/openapi.json")}
    assert described == routes
    guide = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    assert [r.path for r in table if r.tag != "pages" and r.path not in guide] == []

    def body(path: str) -> dict[str, Any]:
        op = doc["paths"][f"/api/venues/{{venue}}/{path}"]["post"]
        return dict(op["requestBody"]["content"]["application/json"]["schema"]["properties"])

    price = body("prices")["price"]
    assert (price["minimum"], price["maximum"]) == (0, MAX_AMOUNT)
    assert "minor units" in price["description"]
    product = body("products")
    assert product["name"]["maxLength"] == MAX_NAME_CHARS
    assert product["id"]["maxLength"] == MAX_CATALOG_ID_CHARS  # short: typed into CSV files
    assert body("stoplist")["user"]["maxLength"] == MAX_ID_CHARS
    # the text pattern refuses the control characters limits.text_problem refuses
    pattern = re.compile(product["name"]["pattern"])
    for text in ("Café Crème", "", "tab\there", "\x7f", "\x9f", "\x00"):
        assert (pattern.fullmatch(text) is not None) == (text_problem(text, 100) is None), text


HOSTILE = {
    "nested": (b'{"product_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "bad_json"),
    "not utf-8": (b'{"product_id": "caf\xe9", "price": 1}', 400, "bad_json"),
    "nan": (b'{"product_id": "latte", "price": NaN}', 400, "bad_json"),
    "float": (b'{"product_id": "latte", "price": 1e400}', 400, "bad_field"),
    "list for text": (b'{"product_id": ["latte"], "price": 1}', 400, "bad_field"),
    "not an object": (b'["latte", 1]', 400, "bad_json"),
    "unknown field": (b'{"product_id": "latte", "price": 1, "tax": 2}', 400, "unknown_field"),
    "huge": (b'{"product_id": "' + b"x" * 300_000 + b'", "price": 1}', 413, "too_large"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_bodies_are_refused_by_the_console_and_store_nothing(
    fuzzed: Fuzzed, name: str
) -> None:
    body, status, code = HOSTILE[name]
    before = fuzzed.stored()
    answer = fuzzed.session.post(
        f"{fuzzed.api}/api/venues/{fuzzed.venue}/prices",
        data=body,
        headers={**fuzzed.headers, "Content-Type": "application/json"},
        timeout=10,
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), answer.text
    assert fuzzed.stored() == before
