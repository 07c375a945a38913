"""The ``meshpos`` command's first step: a node or a console chooses its allocator before it imports
anything else.

``meshpos node`` and ``meshpos console`` start themselves again with Python's objects on glibc's
``malloc`` (meshpos.allocator; engine/memory.py says why). The first process only decides that: it used
to import the command line first, and with it the configuration, the model and the sync core (317
modules, ~0.5 s of CPU at every boot of a register) for a process that then replaced itself. Here it
reads the command's word and starts again before importing :mod:`meshpos.cli`.
"""

from __future__ import annotations

import sys

from meshpos.allocator import ALLOCATING, command_word, run_with_object_allocator


def main() -> int:
    """The ``meshpos`` command (``python -m meshpos`` too)."""
    if command_word(sys.argv[1:]) in ALLOCATING:
        run_with_object_allocator()
    from meshpos.cli import main as command_line

    return command_line()
