"""Datagrams the kernel dropped before mamori could read them (socket buffer overflow).

The UDP receiver counts what *it* has to drop; datagrams that never leave the kernel's receive
buffer are only visible in `/proc/net/udp` (and `udp6`), in the `drops` column of the socket's
line, found by its inode. Polled once a second; increases become part of the `ingest.loss`
event, with the source recorded as "kernel" (the kernel does not say who sent them).
"""

from __future__ import annotations

from pathlib import Path

PROC_FILES = (Path("/proc/net/udp"), Path("/proc/net/udp6"))


def drops_for_inode(text: str, inode: int) -> int | None:
    """The `drops` counter of the socket with `inode` in a /proc/net/udp listing (pure)."""
    want = str(inode)
    for line in text.splitlines()[1:]:
        fields = line.split()
        # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
        if len(fields) >= 13 and fields[9] == want:
            try:
                return int(fields[12])
            except ValueError:
                return None
    return None


def kernel_drops(inode: int) -> int | None:
    """The kernel's drop count for the UDP socket `inode`; None where /proc does not say."""
    for path in PROC_FILES:
        try:
            text = path.read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        found = drops_for_inode(text, inode)
        if found is not None:
            return found
    return None
