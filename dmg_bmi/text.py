"""Text files a user hands in (CAMELS tables, PCSE YAML): UTF-8 without NUL bytes, or an InputError naming
the file, the byte and the line."""

from __future__ import annotations

from pathlib import Path

from dmg_bmi.errors import InputError


def decode_text(raw: bytes, where: str) -> str:
    """`raw` decoded as UTF-8 (a leading byte-order mark is dropped). A NUL byte (a binary or damaged file)
    or invalid UTF-8 raises InputError naming `where` (e.g. the file), the byte position and the line."""

    def line(pos: int) -> int:
        return raw.count(b"\n", 0, pos) + 1

    nul = raw.find(b"\0")
    if nul >= 0:
        raise InputError(f"{where}: NUL byte at byte position {nul} (line {line(nul)}); a text file holds "
                         "none (is the file binary or damaged?)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: byte 0x{raw[exc.start]:02x} at byte position {exc.start} (line "
                         f"{line(exc.start)}) is not valid UTF-8; save the file as UTF-8") from None


def read_text(path: str | Path, what: str = "file") -> str:
    """The UTF-8 text of `path` (`decode_text`); an unreadable file raises InputError naming `what` and it."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from None
    return decode_text(raw, f"{what} {path}")
