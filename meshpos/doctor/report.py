"""What ``meshpos doctor`` says: one line per check, each ok, warning or problem, with what to do.

A venue's IT person reads the text; a chain's scripts read ``--json``; both read the exit code, which says
whether anything is a problem (warnings are things to know, not to fix now: no peers on a one-register
venue, a certificate that expires next month).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass, field

OK = "ok"
WARNING = "warning"
PROBLEM = "problem"
LEVELS = (OK, WARNING, PROBLEM)
EXIT_OK = 0  # nothing is a problem (there may be warnings)
EXIT_PROBLEM = 1  # at least one check is a problem


def when(moment: datetime.datetime) -> str:
    """A certificate date as a person reads it: ``2031-12-04 10:15 UTC``."""
    text = moment.astimezone(datetime.UTC).isoformat(sep=" ", timespec="minutes")
    return text.removesuffix("+00:00") + " UTC"


@dataclass(frozen=True, slots=True)
class Check:
    """One finding. ``message`` names what was found (and where); ``fix`` what to do about it."""

    check: str  # what was checked: "config", "identity", "console", "peer R2", ...
    level: str
    message: str
    fix: str = ""

    def line(self) -> str:
        """The finding in one line (a message is one line: newlines a peer sent are flattened)."""
        label = "PROBLEM" if self.level == PROBLEM else self.level
        text = f"{self.check}: {self.message}"
        if self.fix and self.level != OK:
            text += f" -> {self.fix}"
        return f"{label:<8} " + " ".join(text.split())


@dataclass(slots=True)
class Report:
    """Every check of one doctor run, in the order they ran."""

    subject: str  # "node R1" or "console"
    checks: list[Check] = field(default_factory=list)

    def add(self, check: str, level: str, message: str, fix: str = "") -> Check:
        assert level in LEVELS, level
        found = Check(check, level, message, fix)
        self.checks.append(found)
        return found

    def ok(self, check: str, message: str) -> Check:
        return self.add(check, OK, message)

    def warning(self, check: str, message: str, fix: str = "") -> Check:
        return self.add(check, WARNING, message, fix)

    def problem(self, check: str, message: str, fix: str = "") -> Check:
        return self.add(check, PROBLEM, message, fix)

    def count(self, level: str) -> int:
        return sum(1 for c in self.checks if c.level == level)

    @property
    def exit_code(self) -> int:
        return EXIT_PROBLEM if self.count(PROBLEM) else EXIT_OK

    def text(self) -> str:
        problems, warnings = self.count(PROBLEM), self.count(WARNING)
        verdict = (
            f"{problems} problem(s), {warnings} warning(s)"
            if problems or warnings
            else "everything is ok"
        )
        return "\n".join(
            [f"meshpos doctor: {self.subject}", *(c.line() for c in self.checks), verdict]
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "subject": self.subject,
                "ok": not self.count(PROBLEM),
                "problems": self.count(PROBLEM),
                "warnings": self.count(WARNING),
                "checks": [asdict(c) for c in self.checks],
            },
            ensure_ascii=False,
            sort_keys=True,
        )
