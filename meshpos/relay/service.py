"""The relay service on the engine: probe the console, claim the relay role only with a working uplink,
run the console link while elected, and give the role up when the console refuses or stops taking data.

docs/architecture.md (Relay and console). ``uplink`` (what the election reads from every heartbeat) means
an authenticated console link that takes this node's data: a register that cannot reach the console,
whose token the console refuses, or whose uploads stall never claims the relay, and gives the role up
within a few seconds. It then keeps off the role for a while (doubling, up to the maximum) so another
register can take over, with the reason in every heartbeat, and tries again.

**Changed** (outside2, the twenty-first session): a console that answers the probe 503 (its database
cannot be read) puts its reason in this node's heartbeat, so every register names the console's problem
rather than what is not at the console yet; the role is not given up for it (any relay meets it), and a
probe that succeeds clears it.

**Changed** (outside, the twenty-second session): so does a console that answers the link's upgrade 503
while its probes pass (its full disk cannot write the relay's nonce): the link's ``unavailable`` goes
in the heartbeat and the role is kept, where the role was given up for 2-30 s each time and the next
register took it over to meet the same console; a link that opens clears it
(tests/outside/test_console_disk_full.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Protocol

from meshpos.config import Config
from meshpos.engine import Engine, EngineEvent, LinkClosed, LinkOpened, LinkRefused
from meshpos.net.port import LinkHandler, PeerKind
from meshpos.relay.link import probe_console
from meshpos.sync import PeerLive
from meshpos.trust.relay_proof import RelayProof

log = logging.getLogger("meshpos.relay")

# A relay gives up its claim when the console refuses it, or when this many of the console's heartbeats
# arrive without its state vectors advancing while the relay has data for it and nothing on the way:
# green must mean that data flows, not only that a path exists.
STALL_HEARTBEATS = 5
GIVE_UP_BACKOFF_MIN = 2.0
GIVE_UP_BACKOFF_MAX = 30.0


class ConsoleUplink(Protocol):
    """The relay's link to the console (``meshpos.relay.ConsoleLink``): runs until cancelled."""

    @property
    def sending(self) -> bool:
        """Whether changes handed to it may still be on their way to the console."""

    @property
    def unavailable(self) -> str:
        """The console's words from its last answer "cannot take a relay now" (503); "" if none."""

    async def run(self) -> None: ...


#: makes the console link of a venue (its id), which reports to the given handler (the engine) and
#: shows the console which device relays with the given headers (trust/relay_proof.py)
ConsoleLinkFactory = Callable[[str, LinkHandler, Mapping[str, str]], ConsoleUplink]


class RelayService:
    """Everything the elected relay does beyond syncing: see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        config: Config,
        venue_id: str,
        counters: Counter[str],
        console_link: ConsoleLinkFactory | None,
        proof: Mapping[str, str] | None = None,
    ) -> None:
        """``console_link`` None: this node never relays (no console, or not a register). ``proof``:
        the headers that tell the console which device this is, on each probe and dial."""
        self._engine = engine
        self._proof: Mapping[str, str] = {} if proof is None else proof  # (a RelayProof: kept)
        self._config = config
        self._venue_id = venue_id
        self._counters = counters
        self._factory = console_link if config.console_url and config.role == "register" else None
        self.uplink_ok = False  # the probe (or the running link) says the console takes our data
        self.console_live = False  # the console link's initial sync is done
        self.upload_total = 0  # changes to upload when the console link opened
        # the console's clock minus ours, from the last probe that read its Date (None: not yet); the
        # status warns when it is past ``ops.clock.CLOCK_PROBLEM_S`` (a relay keeps its last probe's)
        self.console_skew_s: float | None = None
        self._console: ConsoleUplink | None = None
        self._console_task: asyncio.Task[None] | None = None
        self._console_key = ""
        self._prober: asyncio.Task[None] | None = None
        self._stopper: asyncio.Task[None] | None = None
        self._stall_problem = False  # the problem is a stall: only data seen flowing clears it
        self._link_unavailable = False  # the problem is the link's 503: an opened link clears it
        self._backoff = 0.0  # seconds it keeps off the relay role after the next give-up
        self._backoff_until = 0.0  # loop time: no uplink (and no probe) before then
        self._console_seq = -1  # the console's heartbeats seen on this link, and what they held
        self._console_clocks = -1
        self._stalled_beats = 0
        engine.subscribe(self._on_event, LinkOpened, PeerLive, LinkClosed, LinkRefused)

    def start(self) -> None:
        if self._factory is not None:
            self._prober = asyncio.create_task(self._probe_forever())

    async def stop(self) -> None:
        await self._stop_relaying()
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober

    @property
    def uplink(self) -> bool:
        """A live, authenticated console link (what the status shows)."""
        return self.console_live and self.uplink_ok

    def upload_progress(self) -> dict[str, int]:
        if self._console_task is None or not self.upload_total:
            return {}
        done = max(0, self.upload_total - self._engine.pending_total())
        return {"done": done, "total": self.upload_total}

    # --- the engine's events ----------------------------------------------------------------------

    def _on_event(self, event: EngineEvent) -> None:
        if isinstance(event, LinkOpened) and event.peer.kind is PeerKind.CONSOLE:
            self._console_key = event.key
            self.upload_total = self._engine.pending_total()
            self._console_seq, self._console_clocks, self._stalled_beats = -1, -1, 0
            if self._link_unavailable:  # the console took the link: it can take a relay again
                self._set_problem("")
            log.info("relay: connected to the console; %d changes to upload", self.upload_total)
        elif isinstance(event, PeerLive) and event.peer == self._console_key:
            self.console_live = True
            self._engine.sync.set_console_live(True)
            log.info("relay: in sync with the console")
        elif isinstance(event, LinkClosed) and event.key == self._console_key:
            self._console_key = ""
            self.console_live = False
            self._engine.sync.set_console_live(False)
        elif (
            isinstance(event, LinkRefused)
            and event.peer.kind is PeerKind.CONSOLE
            # a redial refused again before the link is stopped is the same refusal, not a second one
            and asyncio.get_running_loop().time() >= self._backoff_until
        ):
            self._give_up(f"the console refused {self._config.node_id}: {event.reason}")

    # --- probing and giving up --------------------------------------------------------------------

    async def _probe_forever(self) -> None:
        config, sync = self._config, self._engine.sync
        period = min(config.heartbeat_interval, 0.5)
        loop = asyncio.get_running_loop()
        while True:
            if loop.time() < self._backoff_until:
                ok = False
            elif self.console_live:
                ok = not self._stalled()
                if not ok:
                    self._give_up(
                        f"the console is not taking {config.node_id}'s changes "
                        f"(nothing acknowledged in {STALL_HEARTBEATS} of its heartbeats)",
                        stall=True,
                    )
            else:
                probe = await probe_console(
                    config.console_url,
                    timeout=2.0,
                    ca_file=config.console_ca_file,
                    venue_id=self._venue_id,
                    token=config.console_token,
                    proof=self._proof,
                )
                ok = probe.ok
                if probe.ok and isinstance(self._proof, RelayProof):
                    self._proof.offer(probe.nonce)  # for the link's dial (trust/relay_proof.py)
                if probe.skew_s is not None:
                    self.console_skew_s = probe.skew_s
                dialled = self._dialled_unavailable()
                if probe.refused:
                    self._give_up(f"the console refused {config.node_id}: {probe.refused}")
                elif probe.unavailable or dialled:  # the console's own: every relay would meet it
                    self._set_problem(
                        f"the console cannot take {config.node_id}'s changes now: "
                        f"{probe.unavailable or dialled}",
                        link=not probe.unavailable,
                    )
                elif ok and (not self._stall_problem or self._flows_elsewhere()):
                    self._set_problem("")  # the token is taken; a stall is cleared by data flowing
            if ok != self.uplink_ok:
                log.info("console %s", "reachable" if ok else "not reachable")
            self.uplink_ok = ok
            sync.set_uplink(ok)
            await asyncio.sleep(period)

    def _give_up(self, problem: str, *, stall: bool = False) -> None:
        """No uplink for a while, with the reason in every heartbeat: the claim goes at the next
        election, another register with a working link takes over, every register shows why."""
        self._backoff = min(max(GIVE_UP_BACKOFF_MIN, 2 * self._backoff), GIVE_UP_BACKOFF_MAX)
        self._backoff_until = asyncio.get_running_loop().time() + self._backoff
        if self.uplink_ok:
            log.info("console not reachable")
        self.uplink_ok = False
        self._engine.sync.set_uplink(False)
        self._set_problem(problem, stall=stall)
        self._counters["console_give_ups"] += 1
        log.warning("relay: %s; keeping off the relay role for %.0f s", problem, self._backoff)

    def _set_problem(self, problem: str, *, stall: bool = False, link: bool = False) -> None:
        self._stall_problem = stall
        self._link_unavailable = link
        self._engine.sync.set_problem(problem)

    def _dialled_unavailable(self) -> str:
        """The running console link's last 503 (the console's words), or ""."""
        running = self._console_task is not None and not self._console_task.done()
        return self._console.unavailable if running and self._console is not None else ""

    def _flows_elsewhere(self) -> bool:
        """Another relay carries this node's data to the console: all of it is there."""
        sync = self._engine.sync
        relay = sync.relay
        beat = sync.presence.get(relay) if relay is not None else None
        return (
            beat is not None
            and beat.relay
            and beat.uplink
            and not beat.problem
            and self._engine.pending_total() == 0
        )

    def _stalled(self) -> bool:
        """Has the console sent STALL_HEARTBEATS heartbeats without its state vectors advancing while
        this relay holds data the console lacks? A heartbeat that comes while changes are on their
        way is not counted (nor does it reset the count: anti-entropy re-sends them every round)."""
        sync = self._engine.sync
        beat = sync.presence.get("console")
        if beat is None or beat.seq == self._console_seq:
            return self._stalled_beats >= STALL_HEARTBEATS
        first = self._console_seq < 0
        self._console_seq = beat.seq
        # the console's clocks of the documents we have data for (its own edits to others are no sign)
        waiting = [name for name in sync.docs if sync.pending(name)]
        clocks = sum(sum(beat.console.get(name, {}).values()) for name in waiting)
        if clocks != self._console_clocks or not waiting:
            if not waiting or (not first and clocks > self._console_clocks):
                self._backoff = 0.0  # data flows: a later give-up starts from the shortest wait
                if self._stall_problem:
                    self._set_problem("")  # and the registers may show green again
            self._console_clocks, self._stalled_beats = clocks, 0
        elif self._console is not None and self._console.sending:
            pass  # still on its way: this heartbeat proves nothing either way (anti-entropy resends)
        else:
            self._stalled_beats += 1
        return self._stalled_beats >= STALL_HEARTBEATS

    # --- the console link -------------------------------------------------------------------------

    def manage(self) -> None:
        """Run the console link exactly while this node is the elected relay with a working uplink."""
        if self._factory is None:
            return
        if self._stopper is not None and not self._stopper.done():
            # the old console link is still closing (its session's key is still taken): a new one
            # started now fails "session 'console#1' already exists" when the election flaps;
            # ``_stopped`` looks again once it is gone
            return
        wanted = self._engine.sync.is_relay and self.uplink_ok and not self._engine.closing
        running = self._console_task is not None and not self._console_task.done()
        if wanted and not running:
            self._console = self._factory(self._venue_id, self._engine, self._proof)
            self._console_task = asyncio.create_task(self._console.run())
            log.info("relay: this node is the relay")
        elif running and not wanted:
            self._stopper = asyncio.create_task(self._stop_relaying())
            self._stopper.add_done_callback(self._stopped)

    def _stopped(self, stopper: asyncio.Task[None]) -> None:
        """The old console link is gone: run a new one if the node is the relay again by now."""
        if not stopper.cancelled() and (problem := stopper.exception()) is not None:
            log.error("relay: stopping the console link failed: %r", problem)
        self.manage()

    async def _stop_relaying(self) -> None:
        task, self._console_task = self._console_task, None
        if task is None:
            return
        if self._console_key:
            self._engine.close_link(self._console_key, "no longer the relay")
            await asyncio.sleep(0.05)  # let the goodbye go out
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.console_live = False
        log.info("relay: stopped relaying")
