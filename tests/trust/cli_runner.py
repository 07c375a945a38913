"""A stand-in for ``meshpos.cli`` with only the trust subcommands (run as ``python -m tests.trust.cli_runner``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from meshpos.errors import MeshposError
from meshpos.trust.commands import add_trust_commands


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="meshpos")
    add_trust_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except MeshposError as exc:
        print(f"meshpos: error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
