"""``meshpos doctor --config``'s look at the console a device's relay uploads to (apart from
meshpos.doctor.node by concern, the twenty-first session): does it answer, can it store, does it take
the venue's token and this device as relay.

**Changed** (outside2, the twenty-first session): a console whose ``/health`` answers 503 (its database
refuses writes: a full disk) or whose token probe answers 503 (its database cannot be read) is a
problem naming the console's own words: the doctor called such a console healthy, or said only that
it "did not take the token probe".
"""

from __future__ import annotations

from urllib.parse import urlsplit

from meshpos.config import Config
from meshpos.doctor.probes import http_answer
from meshpos.doctor.report import Report
from meshpos.errors import ConfigError
from meshpos.relay.link import UNAVAILABLE, console_ssl_context, probe_console
from meshpos.trust.identity import DeviceIdentity
from meshpos.trust.relay_proof import refuses_the_device, relay_proof


async def check_console(
    report: Report, config: Config, identity: DeviceIdentity | None, skews: dict[str, float]
) -> None:
    url = config.console_url
    if not url:
        report.ok("console", "none configured: the venue's relay carries this device's data")
        return
    try:
        context = console_ssl_context(url, config.console_ca_file)
    except ConfigError as exc:
        report.problem("console", exc.message, "correct console_ca_file")
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if context is not None else 80)
    health = await http_answer(host, port, "/health", context=context, server_hostname=host)
    if not health.status:
        report.problem(
            "console",
            f"console down or unreachable at {url}: {health.error}",
            "check the internet link and that meshpos console runs there; sales wait on the "
            "venue's devices meanwhile",
        )
        return
    if health.skew_s is not None:
        skews["console"] = health.skew_s
    if health.status == UNAVAILABLE:  # (outside2) it answers and cannot store: not healthy
        report.problem(
            "console",
            f"the console at {url} answers, but: {health.body.strip() or 'HTTP 503'}",
            "on the console's machine: free disk space, or start its database (meshpos doctor "
            "--console there says which); sales wait on the venue's devices meanwhile",
        )
        return
    venue = identity.venue_id if identity is not None else config.venue_id
    if not venue:
        report.warning("console", f"{url} answers; token not checked (no identity)")
        return
    probe = await probe_console(
        url,
        ca_file=config.console_ca_file,
        venue_id=venue,
        token=config.console_token,
        proof=None if identity is None else relay_proof(identity, config.console_token),
    )
    if probe.refused and refuses_the_device(probe.refused):
        report.problem(
            "console",
            f"the console at {url} takes the token but refuses this device as relay: "
            f"{probe.refused}",
            "a device on the venue's deny-list may not relay: if it was revoked by mistake, enrol "
            "it again (meshpos pair); a device that sent no proof needs this meshpos version",
        )
    elif probe.refused:
        report.problem(
            "console",
            f"the console at {url} refused the token: {probe.refused}",
            "set console_token to the content of venue/console-token on the back-office PC",
        )
    elif probe.not_console:
        report.problem(
            "console",
            f"{url} {probe.not_console}",
            "set console_url to the address meshpos console prints as 'console listening for "
            "relays on ws://...' (port 8780 unless --port), not its pages' address",
        )
    elif probe.unavailable:
        report.problem(
            "console",
            f"the console at {url} cannot take a relay now: {probe.unavailable}",
            "on the console's machine: start or repair its database (meshpos doctor --console)",
        )
    elif not probe.ok:
        report.problem("console", f"the console at {url} did not take the token probe")
    elif identity is not None and not probe.nonce:
        # (issue 18, admit) no nonce in its answer: it checks no relay's device (started without
        # --venue DIR for this venue, or older than the fresh proof)
        report.warning(
            "console",
            f"{url} accepts venue {venue}'s token, but its answer holds no nonce: it does not "
            "check which device relays (started without --venue DIR for this venue), or only with "
            "a proof that can be replayed (an older meshpos): a revoked register that kept the "
            "token could upload",
            "start meshpos console with --venue DIR for this venue (the directory holding ca.pem "
            "and revoked.json), on this meshpos version",
        )
    else:
        report.ok("console", f"{url} answers and accepts venue {venue}'s token")
