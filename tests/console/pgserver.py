"""The throwaway PostgreSQL cluster (meshpos.bench.pg) as a session fixture for tests.

Reuse from another test package::

    from tests.console.pgserver import postgres_server  # noqa: F401  (session fixture)

    @pytest.fixture
    def pg_url(postgres_server: PgServer) -> Iterator[str]:
        url = postgres_server.create_database()
        yield url
        postgres_server.drop_database(url)

``MESHPOS_TEST_POSTGRES_URL`` (a superuser URL to the ``postgres`` database) uses an existing server
instead; ``MESHPOS_PG_BIN`` names the directory holding initdb and pg_ctl.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

from meshpos.bench.pg import PgServer, PostgresUnavailable, find_pg_bin, throwaway_postgres

__all__ = [
    "PgServer",
    "PostgresUnavailable",
    "find_pg_bin",
    "postgres_server",
    "throwaway_postgres",
]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer]:
    """One PostgreSQL server per test session; skips (a failure under CI=true) if none can run."""
    if url := os.environ.get("MESHPOS_TEST_POSTGRES_URL"):
        yield PgServer(url)
        return
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(throwaway_postgres())
        except PostgresUnavailable as exc:
            pytest.skip(f"no PostgreSQL for the console tests: {exc}")
        yield server
