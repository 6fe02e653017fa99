"""IEEE 488.2 byte-level helpers: definite-length blocks, message framing and splitting.

A definite-length arbitrary block is ``#<n><len><bytes>``: one digit ``n`` giving the number
of length digits, ``len`` in decimal, then exactly ``len`` raw bytes, which may contain any
byte including ``\\n``, ``;`` and ``,``. The framing here reads such a block by its length,
never by a terminator. ``#0`` (indefinite-length block) runs to the end of the message.
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_BLOCK_BYTES",
    "BlockError",
    "decode_block",
    "encode_block",
    "split_outside",
    "take_messages",
]

#: Largest block the framer accepts (bytes); a longer declared length is not a block.
MAX_BLOCK_BYTES = 512 * 1024 * 1024

_NL = 0x0A
_HASH = 0x23
_QUOTES = (0x22, 0x27)
_SPECIAL = re.compile(rb"[\n\"'#]")
_AFTER_BLOCK = frozenset(b"\n\r\t ;,")
_QUOTE_END = {0x22: re.compile(rb'"|\n'), 0x27: re.compile(rb"'|\n")}


class BlockError(ValueError):
    """The bytes are not one well-formed definite-length block."""


def encode_block(payload: bytes) -> bytes:
    """Wrap ``payload`` into a definite-length block ``#<n><len><payload>``."""
    length = str(len(payload)).encode("ascii")
    if len(length) > 9:
        raise BlockError(f"payload of {len(payload)} bytes is too long for a block")
    return b"#" + str(len(length)).encode("ascii") + length + payload


def decode_block(data: bytes) -> bytes:
    """Return the payload of the block ``data``; trailing ``\\r``/``\\n`` are allowed.

    Raises:
        BlockError: ``data`` is not exactly one block (bad header, short or extra bytes).
    """
    if len(data) < 2 or data[0] != _HASH or not chr(data[1]).isdigit():
        raise BlockError("a block starts with '#' and one digit")
    n = data[1] - 0x30
    if n == 0:
        return bytes(data[2:]).rstrip(b"\r\n")
    digits = data[2 : 2 + n]
    if len(digits) != n or not digits.isdigit():
        raise BlockError("bad block length header")
    start = 2 + n
    end = start + int(digits)
    if end > len(data):
        raise BlockError(f"block declares {int(digits)} bytes, has {len(data) - start}")
    if data[end:].strip(b"\r\n \t"):
        raise BlockError("extra bytes after the block")
    return bytes(data[start:end])


def _block_end(data: bytes | bytearray, i: int, *, complete: bool) -> int | None:
    """``data[i]`` is ``#``; index just after the block there, or ``i + 1`` if it is no block.

    ``None`` means the block is not complete yet (only when ``complete`` is false).
    """
    size = len(data)
    if i + 1 >= size:
        return i + 1 if complete else None
    n = data[i + 1] - 0x30
    if not 0 <= n <= 9:
        return i + 1
    if n == 0:  # indefinite length: up to the end of the message
        nl = data.find(b"\n", i + 2)
        if nl < 0:
            return size if complete else None
        return nl
    if i + 2 + n > size:
        return i + 1 if complete else None
    digits = bytes(data[i + 2 : i + 2 + n])
    if not digits.isdigit() or int(digits) > MAX_BLOCK_BYTES:
        return i + 1
    end = i + 2 + n + int(digits)
    if end > size:
        return size if complete else None
    return end


def take_messages(buffer: bytearray) -> list[bytes]:
    """Remove and return the complete newline-terminated messages at the start of ``buffer``.

    Newlines inside a definite-length block do not end a message; a newline inside an
    unclosed quoted string does (the string is then malformed, the parser reports it).
    A definite-length block followed by anything but a newline, white space, ``;`` or ``,``
    ends its message too. The terminating newline is not part of the returned message.
    """
    messages: list[bytes] = []
    start = 0
    i = 0
    quote: int | None = None
    while True:
        if quote is not None:
            m = _QUOTE_END[quote].search(buffer, i)
            if m is None:
                break
            if buffer[m.start()] == _NL:
                messages.append(bytes(buffer[start : m.start()]))
                start = i = m.start() + 1
            else:
                i = m.start() + 1
            quote = None
            continue
        m = _SPECIAL.search(buffer, i)
        if m is None:
            break
        j = m.start()
        c = buffer[j]
        if c == _NL:
            messages.append(bytes(buffer[start:j]))
            start = i = j + 1
        elif c in _QUOTES:
            quote = c
            i = j + 1
        else:
            end = _block_end(buffer, j, complete=False)
            if end is None:
                break
            if j + 1 < end < len(buffer) and buffer[end] not in _AFTER_BLOCK:
                # a block that is not followed by a separator ends the message (some
                # drivers send a block with no terminator, e.g. QCoDeS's AWG70000 files)
                messages.append(bytes(buffer[start:end]))
                start = end
            i = end
    del buffer[:start]
    return messages


def split_outside(data: bytes, separator: bytes) -> list[bytes]:
    """Split a complete message at ``separator`` bytes outside quoted strings and blocks."""
    sep = separator[0]
    parts: list[bytes] = []
    start = 0
    i = 0
    size = len(data)
    while i < size:
        c = data[i]
        if c == sep:
            parts.append(data[start:i])
            start = i + 1
            i += 1
        elif c in _QUOTES:
            close = data.find(bytes([c]), i + 1)
            i = size if close < 0 else close + 1
        elif c == _HASH:
            end = _block_end(data, i, complete=True)
            i = size if end is None else end
        else:
            i += 1
    parts.append(data[start:])
    return parts
