"""The command line as a new operator meets it in a shell pipeline."""

from __future__ import annotations

import os
import subprocess
import sys


def test_output_cut_short_by_the_reader_is_no_unexpected_error() -> None:
    """`meshpos status | head -1` said `unexpected error: BrokenPipeError` and exit 1: the reader
    closing the pipe is the shell's business. Now nothing on stderr and 141, as a SIGPIPE'd command."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "meshpos", "chaos", "--seed", "1", "--schedule-only"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)
    assert done.stderr == ""
    assert done.returncode == 141
