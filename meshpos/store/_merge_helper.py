"""The compaction helper process (store.merger): ``fold`` requests on stdin, results on stdout.

Started as ``python -c "from meshpos.store._merge_helper import main; main()"``; it imports the store package (pycrdt, aiosqlite),
not the node, network or web code, so it starts in about a tenth of a second. Frames (all integers 8-byte big-endian):
request ``full`` (0/1), number of segments, number of log rows, then each part as length + bytes; reply
``absorbed``, length + merged bytes. It exits at end of input.
"""

from __future__ import annotations

import struct
import sys
from typing import IO

from meshpos.store.base import fold

_INT = struct.Struct(">Q")


def read_int(stream: IO[bytes]) -> int | None:
    raw = stream.read(_INT.size)
    if len(raw) < _INT.size:
        return None
    value: int = _INT.unpack(raw)[0]
    return value


def read_part(stream: IO[bytes]) -> bytes:
    size = read_int(stream)
    if size is None:
        raise EOFError("input ended inside a request")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("input ended inside a request")
    return data


def write_parts(stream: IO[bytes], header: list[int], parts: list[bytes]) -> None:
    stream.write(b"".join(_INT.pack(n) for n in header))
    for part in parts:
        stream.write(_INT.pack(len(part)))
        stream.write(part)
    stream.flush()


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while (full := read_int(stdin)) is not None:
        segment_count, log_count = read_int(stdin), read_int(stdin)
        if segment_count is None or log_count is None:
            raise EOFError("input ended inside a request")
        segments = [read_part(stdin) for _ in range(segment_count)]
        log_rows = [read_part(stdin) for _ in range(log_count)]
        absorbed, merged = fold(segments, log_rows, full=bool(full))
        write_parts(stdout, [absorbed], [merged])


if __name__ == "__main__":
    main()
