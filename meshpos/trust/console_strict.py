"""Whether a node takes the console's word only as the console signed it, remembered across restarts.

docs/architecture.md (Security). **Changed** (issue 18, sticky): ``console_signed = "auto"`` (the
default) takes the console's unsigned state and reports only until the node took one statement the
venue's console signed (``meshpos.sync._passing``); from then on it is strict, and this module keeps
that in the data directory (``console-signed``, written atomically and fsync'd: it survives a restart
and a kill -9), so a restart never reopens the window in which an enrolled device's unsigned claims
were believed. A node that cannot write the file stays strict in memory and logs why. A device
enrolled after the venue had a console key holds the console's certificate (``enroll``) and is
strict from its first start: no window at all. **Changed** (issue 18, outside): anything at that
path counts (a directory, garbage, an unreadable file, a dangling or looping symbolic link): a
dangling link read as absent, and reopened the window.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from meshpos.trust._files import write_file
from meshpos.trust.console_key import CONSOLE_CERT

log = logging.getLogger("meshpos.trust")

#: in the data directory: present once the node took a statement its venue's console signed
STRICT_FILE = "console-signed"


def console_signed_mode(
    setting: bool | Literal["auto"], data_dir: Path, identity_dir: Path
) -> tuple[bool | Literal["auto"], Callable[[], None] | None]:
    """What the synchronizer is told (``SyncConfig.console_signed``, ``on_console_strict``) for the
    node's ``console_signed`` setting: "auto" is strict from the start once remembered, or when
    enrolment handed the device the console's certificate (``enroll``: pinned in its identity
    directory), else it remembers when it turns strict."""
    if setting != "auto":
        return setting, None
    if (identity_dir / CONSOLE_CERT).exists():
        log.info("console_signed = auto: strict (the console's certificate came with enrolment)")
        return True, None
    if os.path.lexists(data_dir / STRICT_FILE):  # anything there: a dangling link too (outside)
        log.info("console_signed = auto: strict (remembered in %s)", data_dir / STRICT_FILE)
        return True, None
    return "auto", lambda: remember_strict(data_dir)


def remember_strict(data_dir: Path) -> None:
    """Keep "this node is strict" in ``data_dir``; a failure is logged (the node stays strict in
    memory: the synchronizer turned strict before it asked)."""
    try:
        write_file(
            data_dir / STRICT_FILE,
            "This node took a statement its venue's console signed: from now on it takes the "
            "console's state and reports only as the console signed them (console_signed = auto).\n",
        )
        log.info(
            "console_signed = auto: took the console's first signed statement; strict from now on "
            "(remembered in %s)",
            data_dir / STRICT_FILE,
        )
    except OSError as exc:
        log.error(
            "cannot remember that this node takes only the console's signed word (%s): strict "
            "until it stops, and again after its next signed statement",
            exc,
        )
