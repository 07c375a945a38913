"""Which allocator Python's objects use in a node or a console process, chosen before anything else.

The allocator is fixed when the interpreter starts, so ``meshpos node`` and ``meshpos console`` start
themselves again with ``PYTHONMALLOC=malloc`` where glibc can trim (engine/memory.py says why: a closed
day's memory goes back by the page). This module is that choice alone, importing nothing of meshpos:
the command line calls it before anything else, and a process that is about to start again should not
first import the engine it will import again (it did: ~0.5 s of CPU at every boot of a register).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import cache

ALLOCATING = ("node", "console")  # the commands that keep a venue's days in memory


def command_word(argv: Sequence[str]) -> str | None:
    """The subcommand a command line names, read before any parser is built (the whole parser
    imports every benchmark): the first word that is not an option or the value of
    ``--log-level`` or ``--log-format``."""
    words = iter(argv)
    for word in words:
        if word in ("--log-level", "--log-format"):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


@cache
def libc() -> ctypes.CDLL | None:
    """The C library, or None where it cannot be loaded."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except (OSError, TypeError):
        return None


@cache
def malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    found = libc()
    trim = getattr(found, "malloc_trim", None) if found is not None else None
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    function: Callable[[int], int] = trim
    return function


def object_allocator_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` as a node or a console runs with: Python's objects on glibc's ``malloc``
    (``PYTHONMALLOC=malloc``) where glibc can trim, so a closed day's memory goes back by the page
    instead of by pymalloc's 1 MiB arena (engine/memory.py says why). A ``PYTHONMALLOC`` already set
    (an operator's, a debugging run's) is kept; elsewhere than glibc nothing changes."""
    if "PYTHONMALLOC" in env or malloc_trim() is None:
        return dict(env)
    return {**env, "PYTHONMALLOC": "malloc"}


def run_with_object_allocator() -> None:
    """Start this program again (same process id, same arguments) when :func:`object_allocator_env`
    would change its environment; returns only when it would not. The allocator is chosen when the
    interpreter starts, so the node's and the console's command lines call it first, before any
    thread; a program that embeds a node (tests, benches) chooses for itself."""
    env = object_allocator_env(os.environ)
    if env == dict(os.environ):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
