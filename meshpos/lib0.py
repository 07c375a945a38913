"""lib0-compatible var-uint / var-string / var-bytes encoding with a strict, bounds-checked reader.

pycrdt's own ``Decoder`` indexes past the end of its buffer (``IndexError``) and accepts overlong numbers;
everything a peer sends goes through :class:`Reader` instead, which only ever raises
:class:`~meshpos.errors.RemoteProtocolError` naming the field being read. It sits below both the model (state
vectors) and the wire codec (sync), which both read lib0.
"""

from __future__ import annotations

from meshpos.errors import RemoteProtocolError

MAX_VAR_UINT = 2**53 - 1  # the largest integer a JavaScript (Yjs) peer can represent exactly
_MAX_VAR_UINT_BYTES = 8  # 8 * 7 = 56 bits >= 53


def write_var_uint(num: int) -> bytes:
    if not 0 <= num <= MAX_VAR_UINT:
        raise ValueError(f"var-uint out of range: {num}")
    out = bytearray()
    while num > 127:
        out.append(0x80 | (num & 0x7F))
        num >>= 7
    out.append(num)
    return bytes(out)


def write_var_bytes(data: bytes) -> bytes:
    return write_var_uint(len(data)) + data


def write_var_string(text: str) -> bytes:
    return write_var_bytes(text.encode("utf-8"))


class Reader:
    """Reads lib0 primitives from one message; every failure is the peer's fault."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def read_byte(self, what: str) -> int:
        if self._pos >= len(self._data):
            raise RemoteProtocolError(f"{what}: message ends early")
        value = self._data[self._pos]
        self._pos += 1
        return value

    def read_var_uint(self, what: str) -> int:
        # Inlined byte reads: every message and state vector is read through here (tens of
        # thousands of numbers a second on a busy mesh), and a method call per byte was most of it.
        data, pos = self._data, self._pos
        end = len(data)
        if pos < end and data[pos] < 0x80:  # the usual one-byte number
            self._pos = pos + 1
            return data[pos]
        value = 0
        for i in range(_MAX_VAR_UINT_BYTES):
            if pos >= end:
                self._pos = pos
                raise RemoteProtocolError(f"{what}: message ends early")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << (7 * i)
            if byte < 0x80:
                self._pos = pos
                if value > MAX_VAR_UINT:
                    raise RemoteProtocolError(f"{what}: number {value} exceeds 2**53 - 1")
                if i > 0 and byte == 0:
                    raise RemoteProtocolError(f"{what}: overlong number encoding")
                return value
        self._pos = pos
        raise RemoteProtocolError(f"{what}: number longer than {_MAX_VAR_UINT_BYTES} bytes")

    def read_bytes(self, n: int, what: str) -> bytes:
        if n > self.remaining:
            raise RemoteProtocolError(
                f"{what}: declares {n} bytes but only {self.remaining} remain"
            )
        value = self._data[self._pos : self._pos + n]
        self._pos += n
        return bytes(value)

    def read_var_bytes(self, what: str) -> bytes:
        return self.read_bytes(self.read_var_uint(what), what)

    def read_var_string(self, what: str) -> str:
        raw = self.read_var_bytes(what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RemoteProtocolError(f"{what}: not valid UTF-8") from None

    def read_rest(self) -> bytes:
        value = bytes(self._data[self._pos :])
        self._pos = len(self._data)
        return value

    def expect_end(self, what: str) -> None:
        if self.remaining:
            raise RemoteProtocolError(f"{what}: {self.remaining} unexpected trailing bytes")
