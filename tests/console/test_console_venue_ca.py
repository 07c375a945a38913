"""A console database knows each venue id with its venue CA (schema 10; the twenty-third session,
part ``outside``; the real-process case is tests/outside/test_console_venue_same_id.py).

A database of schema 9 knew a venue by its id alone: it learns the CA at its next start with the
venue's directory, once, and from then on a directory of another CA with that id (two shops that each
ran README's ``venue init --venue-id cafe-central``) is refused with nothing changed, while the venue's
own directory with a new console token (``meshpos venue console-token --new``) is taken as before.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from meshpos.console.db import open_console_db
from meshpos.console.runner import register_venues
from meshpos.console.tokens import hash_token, same_hash
from meshpos.errors import ConfigError
from meshpos.trust import init_venue
from meshpos.trust.certs import ca_fingerprint

from .test_console_relay_nonces import sql
from .test_console_shared import _as_schema

VENUE = "cafe-central"


async def test_a_schema_9_venue_learns_its_ca_and_refuses_another(
    db_url: str, tmp_path: Path
) -> None:
    first = init_venue(tmp_path / "central", "Café Central", venue_id=VENUE)
    second = init_venue(tmp_path / "harbour", "Café Harbour", venue_id=VENUE)
    db = await open_console_db(db_url)
    try:
        await db.add_venue(VENUE, "Café Central", hash_token(first.console_token))
    finally:
        await db.close()
    _as_schema(db_url, 9)  # registered by the previous release: no CA kept

    db = await open_console_db(db_url)
    try:
        assert await db.venue_ca_of(VENUE) is None
        assert await register_venues(db, [first.directory]) == []
        assert await db.venue_ca_of(VENUE) == ca_fingerprint(first.ca_pem)
        with pytest.raises(ConfigError, match=r"'Café Harbour'.*another venue.*'Café Central'"):
            await register_venues(db, [second.directory])
        token = await db.token_hash_of(VENUE)
        assert token is not None
        assert same_hash(token, hash_token(first.console_token))  # nothing changed
        assert await db.venue_ca_of(VENUE) == ca_fingerprint(first.ca_pem)

        new = first.replace_console_token()  # meshpos venue console-token --new
        await register_venues(db, [first.directory])
        token = await db.token_hash_of(VENUE)
        assert token is not None
        assert same_hash(token, hash_token(new))
    finally:
        await db.close()
    assert sql(db_url, "SELECT count(*) FROM venues") == [(1,)]
