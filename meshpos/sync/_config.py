"""The synchronizer's settings: heartbeat pace, liveness, anti-entropy, and its sessions' limits.

Its own module so the synchronizer's parts (``_synchronizer``, ``_exchange``, ``_heartbeats``) share it without
importing one another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from meshpos.errors import LocalProtocolError
from meshpos.sync._budget import ReopenBudget
from meshpos.sync._held_signed import HeldCheck, HeldSigner
from meshpos.sync._messages import SOFTWARE as SOFTWARE  # the synchronizer's hello names it
from meshpos.sync._session import SessionConfig
from meshpos.sync._signed import ConsoleCheck, ConsoleSigner, TickCheck, TickSigner
from meshpos.sync._topology import DEGREE, FULL_MESH

REPORTED_DAYS = (
    14  # ledger days whose console reports a heartbeat carries (a few hundred bytes each)
)


@dataclass(frozen=True, slots=True)
class SyncConfig:
    heartbeat_interval: float = 1.0
    missed_heartbeats: float = 2.5  # a peer is gone after this many heartbeat periods of silence
    anti_entropy_interval: float = 5.0
    settle_heartbeats: float = 2.0  # after start, listen this long before claiming the relay role
    degree: int = DEGREE  # links per node in a large venue (``_topology``); tests use 2 (a ring)
    # a venue of up to this many devices is a full mesh (``_topology.FULL_MESH``); 0: ``degree`` alone
    full_mesh: int = FULL_MESH
    session: SessionConfig = field(default_factory=SessionConfig)
    reopens: ReopenBudget = field(default_factory=ReopenBudget)  # closed days peers may open
    # (``_signed``) checks a console statement (a node: its venue CA); passing one on needs it
    console_check: ConsoleCheck | None = None
    # take the console's state and reports only from checked statements (signing is on); "auto":
    # take unsigned ones only until the first checked statement, strict from then on (``_passing``)
    console_signed: bool | Literal["auto"] = False
    # "auto" only: told once, when this node turns strict (the node remembers it in its data directory)
    on_console_strict: Callable[[], None] | None = None
    # the console: signs its statement (its key for the venue); None: it says nothing signed
    console_signer: ConsoleSigner | None = None
    # (issue 18, tick: ``_tick``) a node: checks the console's tick against the statement it names;
    # the console: signs one when nothing moved (None: it signs its whole statement again instead)
    console_tick_check: TickCheck | None = None
    console_tick_signer: TickSigner | None = None
    # (the twenty-third session, epoch: ``_epoch``) a node: checks the console's epoch word (its
    # certificate and signature, as a statement's); None: it takes none (a new epoch goes unnoticed)
    console_epoch_check: ConsoleCheck | None = None
    # (issue 18, fresh: ``_fresh``) the console signs again at least this often, also when nothing
    # moved (a tick when it can, ``_tick``); a strict node is green only while the console's latest statement is at most
    # ``console_fresh_s`` old and its own changes reach the console's signed state within
    # ``upload_bound_s`` (honest: ~1 s; generous so that bursts and relay hand-overs never flap)
    # (issue 18, sign: ``_held_signed``) signs this device's attestations that go on through
    # another node, and checks another device's; None: unsigned (as N−1), and a strict node then
    # keeps only attestations heard from their own node
    held_signer: HeldSigner | None = None
    held_check: HeldCheck | None = None
    console_resign_s: float = 2.0
    console_fresh_s: float = 10.0
    upload_bound_s: float = 30.0

    @classmethod
    def paced(cls, heartbeat_interval: float, max_message_size: int) -> SyncConfig:
        """Timeouts that scale with the heartbeat, as nodes and the console use them."""
        hb = heartbeat_interval
        return cls(
            heartbeat_interval=hb,
            anti_entropy_interval=5 * hb,
            session=SessionConfig(
                max_message_size=max_message_size,
                hello_timeout=max(10 * hb, 5.0),
                idle_timeout=max(5 * hb, 2.0),
                reply_interval=hb,
            ),
        )

    def __post_init__(self) -> None:
        if self.heartbeat_interval <= 0 or self.anti_entropy_interval <= 0:
            raise LocalProtocolError("intervals must be positive")
        if min(self.console_resign_s, self.console_fresh_s, self.upload_bound_s) <= 0:
            raise LocalProtocolError("console_resign_s, console_fresh_s, upload_bound_s: positive")
        if self.degree < 2:
            raise LocalProtocolError("degree must be at least 2 (a ring)")
        if not isinstance(self.console_signed, bool) and self.console_signed != "auto":
            raise LocalProtocolError("console_signed must be true, false or 'auto'")
        if self.console_signed is not False and self.console_check is None:
            raise LocalProtocolError("console_signed needs a console_check to check statements")
        if self.missed_heartbeats < 1 or self.settle_heartbeats < 0:
            raise LocalProtocolError("missed_heartbeats must be >= 1, settle_heartbeats >= 0")
