"""The tree's storage layout: C2SP tlog-tiles with tile height 8 (pure: no I/O).

Tile (level L, number N) holds the hashes at tree level 8*L of the node indices
N*256 .. N*256+width-1, concatenated (32 bytes each). Full tiles have width 256 and never change;
the rightmost tile of each level may be partial and is rewritten as it grows. The hashes at the
7 tree levels between two tile levels are not stored: they are recomputed from the tile below.

:class:`TileBuilder` extends the tiles as leaves are appended (the write path);
:class:`TileNodeReader` serves perfect-subtree hashes from stored tiles (the proof path).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol

from mamori.ledger.errors import LedgerError
from mamori.ledger.merkle import EMPTY_ROOT, HASH_SIZE, fold_right

TILE_HEIGHT = 8
"""Tree levels per tile (C2SP tlog-tiles)."""

TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes in a full tile: 256."""

TileKey = tuple[int, int]
"""(level, number) of a tile."""

_FULL_BYTES = TILE_WIDTH * HASH_SIZE
_REPAIR_HINT = "the tiles table is damaged or incomplete: run `mamori ledger verify` to see where"


class Tile(NamedTuple):
    """One tile as stored: the row (level, number, width, hashes) of the tiles table."""

    level: int
    number: int
    width: int
    """Number of hashes: 256 for a full tile, fewer for the rightmost tile of a level."""
    hashes: bytes
    """`width` concatenated 32-byte hashes."""


class TileSource(Protocol):
    """Where stored tiles come from."""

    def read_tiles(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored hashes of the tiles at `keys` that exist (absent keys are left out)."""
        ...


def tile_width(level: int, number: int, tree_size: int) -> int:
    """How many hashes tile (level, number) holds in a tree of `tree_size` (0: not in it)."""
    count = tree_size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, count - number * TILE_WIDTH))


def edge_tiles(tree_size: int) -> list[tuple[int, int, int]]:
    """(level, number, width) of the partial rightmost tile of every level of a tree.

    Levels whose tiles are all full have none. These are the only tiles that still change.
    """
    out: list[tuple[int, int, int]] = []
    level = 0
    count = tree_size
    while count:
        if count % TILE_WIDTH:
            out.append((level, count // TILE_WIDTH, count % TILE_WIDTH))
        count >>= TILE_HEIGHT
        level += 1
    return out


def split_hashes(data: bytes) -> list[bytes]:
    """Concatenated 32-byte hashes as a list (a trailing partial hash is dropped)."""
    return [data[i : i + HASH_SIZE] for i in range(0, len(data) - HASH_SIZE + 1, HASH_SIZE)]


def _pair_up(hashes: list[bytes]) -> list[bytes]:
    """The next level up: node_hash of each complete pair (an odd last hash has no parent yet)."""
    sha256 = hashlib.sha256
    one = b"\x01"
    return [
        sha256(one + left + right).digest()
        for left, right in zip(hashes[0::2], hashes[1::2], strict=False)
    ]


def _tile_name(key: TileKey) -> str:
    return f"tile {key[0]}/{key[1]}"


class MemoryTileSource:
    """Tiles in a dict: for tests and for verifying an exported ledger in memory."""

    def __init__(self, tiles: Mapping[tuple[int, int], bytes] | None = None) -> None:
        self._tiles: dict[TileKey, bytes] = dict(tiles or {})

    def read_tiles(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored tiles among `keys`."""
        return {k: self._tiles[k] for k in keys if k in self._tiles}

    def write_tiles(self, tiles: Iterable[tuple[int, int, int, bytes]]) -> None:
        """Store (level, number, width, hashes) rows, replacing tiles with the same key."""
        for level, number, width, hashes in tiles:
            if not 0 < width <= TILE_WIDTH or len(hashes) != width * HASH_SIZE:
                raise LedgerError(
                    f"{_tile_name((level, number))} of width {width} cannot hold "
                    f"{len(hashes)} bytes of hashes",
                    hint=f"a tile holds 1 to {TILE_WIDTH} hashes of {HASH_SIZE} bytes",
                )
            self._tiles[(level, number)] = bytes(hashes)

    @property
    def tiles(self) -> dict[tuple[int, int], bytes]:
        """A copy of every stored tile."""
        return dict(self._tiles)


class _TileNodes:
    """The hashes of one tile and the 7 tree levels it determines, computed as needed."""

    __slots__ = ("levels",)

    def __init__(self, entries: list[bytes]) -> None:
        self.levels = [entries]

    def node(self, sublevel: int, index: int) -> bytes:
        levels = self.levels
        while len(levels) <= sublevel:
            levels.append(_pair_up(levels[-1]))
        return levels[sublevel][index]


class TileCache:
    """A small LRU cache of full tiles of ONE tile source (full tiles never change)."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = max(1, capacity)
        self._tiles: OrderedDict[TileKey, _TileNodes] = OrderedDict()

    def _get(self, key: TileKey) -> _TileNodes | None:
        tile = self._tiles.get(key)
        if tile is not None:
            self._tiles.move_to_end(key)
        return tile

    def _put(self, key: TileKey, tile: _TileNodes) -> None:
        self._tiles[key] = tile
        self._tiles.move_to_end(key)
        while len(self._tiles) > self.capacity:
            self._tiles.popitem(last=False)

    def __len__(self) -> int:
        return len(self._tiles)


class TileNodeReader:
    """A :class:`~mamori.ledger.merkle.NodeReader` for the tree of `tree_size` leaves in tiles.

    Node (h, i) lives in tile level L = h // 8 at sublevel s = h % 8: it is the reduction of
    the 2**s hashes j0 = i * 2**s .. j0 + 2**s - 1 of tile (L, j0 // 256). Each :meth:`nodes`
    call reads every tile it needs in one :meth:`TileSource.read_tiles` call; full tiles are
    kept in an LRU :class:`TileCache` (pass one to share it between readers of one source).
    """

    def __init__(
        self, source: TileSource, tree_size: int, *, cache: TileCache | None = None
    ) -> None:
        if isinstance(tree_size, bool) or not isinstance(tree_size, int) or tree_size < 0:
            raise LedgerError(f"a tree size is a non-negative integer, not {tree_size!r}")
        self._source = source
        self._size = tree_size
        self._cache = cache if cache is not None else TileCache()
        # Partial tiles are fixed too as far as this reader's tree size goes (the tree only
        # grows), so they are kept for the reader's lifetime: at most one per level.
        self._partial: dict[TileKey, _TileNodes] = {}

    @property
    def tree_size(self) -> int:
        """The size of the tree this reader reads."""
        return self._size

    def with_size(self, tree_size: int) -> TileNodeReader:
        """A reader of the same source at another tree size, sharing the full-tile cache."""
        return TileNodeReader(self._source, tree_size, cache=self._cache)

    def nodes(self, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        """The hashes of the perfect subtrees at `coords` (level, index), in order."""
        size = self._size
        plan: list[tuple[TileKey, int, int]] = []
        for coord in coords:
            level, index = coord
            # The level is bounded first so a wild one cannot make a huge shifted int.
            if not 0 <= level < size.bit_length() or index < 0 or (index + 1) << level > size:
                raise LedgerError(
                    f"node {coord} (level, index) is not a complete subtree of the tree of "
                    f"size {size}",
                    hint="ask only for nodes of the tree size the reader was made for",
                )
            tile_level, sub = divmod(level, TILE_HEIGHT)
            first = index << sub
            plan.append(((tile_level, first >> TILE_HEIGHT), first % TILE_WIDTH, sub))
        tiles = self._load({key for key, _, _ in plan})
        return [tiles[key].node(sub, offset >> sub) for key, offset, sub in plan]

    def _load(self, keys: set[TileKey]) -> dict[TileKey, _TileNodes]:
        size = self._size
        found: dict[TileKey, _TileNodes] = {}
        missing: list[TileKey] = []
        for key in sorted(keys):
            tile = self._partial.get(key) or self._cache._get(key)
            if tile is None:
                missing.append(key)
            else:
                found[key] = tile
        if not missing:
            return found
        data = self._source.read_tiles(missing)
        absent = [k for k in missing if k not in data]
        if absent:
            names = ", ".join(_tile_name(k) for k in absent)
            raise LedgerError(
                f"{names} needed for the tree of size {size} "
                f"{'is' if len(absent) == 1 else 'are'} missing from the tile store",
                hint=_REPAIR_HINT,
            )
        for key in missing:
            width = tile_width(key[0], key[1], size)
            raw = data[key]
            if len(raw) < width * HASH_SIZE or len(raw) % HASH_SIZE:
                raise LedgerError(
                    f"{_tile_name(key)} holds {len(raw)} bytes but the tree of size {size} "
                    f"needs {width} hashes ({width * HASH_SIZE} bytes) in it",
                    hint=_REPAIR_HINT,
                )
            tile = _TileNodes(split_hashes(bytes(raw[: width * HASH_SIZE])))
            if width == TILE_WIDTH:
                self._cache._put(key, tile)
            else:
                self._partial[key] = tile
            found[key] = tile
        return found


class TileBuilder:
    """The write path: extends the tiles and the root as leaf hashes are appended.

    For every tile level it keeps the current partial tile and the 7 tree levels above it that
    the tile determines, so an append hashes only the new nodes, and the root is the fold of
    one hash per set bit of the size, cached until the next append.
    """

    __slots__ = ("_counts", "_dirty", "_root", "_size", "_subs")

    def __init__(
        self, tree_size: int = 0, partial_tiles: Mapping[int, bytes] | None = None
    ) -> None:
        """A builder for a tree of `tree_size` leaves.

        `partial_tiles` maps each level that has a partial rightmost tile (see
        :func:`edge_tiles`) to that tile's hashes, exactly `width` of them.
        """
        if isinstance(tree_size, bool) or not isinstance(tree_size, int) or tree_size < 0:
            raise LedgerError(f"a tree size is a non-negative integer, not {tree_size!r}")
        given = dict(partial_tiles or {})
        edges = edge_tiles(tree_size)
        expected = {level: width for level, _, width in edges}
        if set(given) != set(expected):
            raise LedgerError(
                f"a tree of size {tree_size} has partial tiles at levels "
                f"{sorted(expected)}, not {sorted(given)}",
                hint="use TileBuilder.resume(tree_size, source) to read the right tiles",
            )
        self._size = tree_size
        # _counts[L]: hashes ever placed at tile level L (= tree_size >> 8L);
        # _subs[L][s]: the complete nodes at tree level 8L+s inside level L's partial tile.
        self._counts: list[int] = []
        self._subs: list[list[list[bytes]]] = []
        count = tree_size
        while count:
            self._counts.append(count)
            self._subs.append([[] for _ in range(TILE_HEIGHT)])
            count >>= TILE_HEIGHT
        for level, width in expected.items():
            data = given[level]
            if len(data) != width * HASH_SIZE:
                raise LedgerError(
                    f"the partial tile at level {level} of a tree of size {tree_size} holds "
                    f"{width} hashes ({width * HASH_SIZE} bytes), not {len(data)} bytes",
                    hint=_REPAIR_HINT,
                )
            sub = self._subs[level]
            sub[0] = split_hashes(bytes(data))
            for s in range(1, TILE_HEIGHT):
                sub[s] = _pair_up(sub[s - 1])
        self._dirty: dict[TileKey, bytes | None] = {}
        self._root: bytes | None = None

    @classmethod
    def resume(cls, tree_size: int, source: TileSource) -> TileBuilder:
        """A builder continuing the stored tree of `tree_size` leaves (reads its edge tiles)."""
        if isinstance(tree_size, bool) or not isinstance(tree_size, int) or tree_size < 0:
            raise LedgerError(f"a tree size is a non-negative integer, not {tree_size!r}")
        edges = edge_tiles(tree_size)
        keys = [(level, number) for level, number, _ in edges]
        data = source.read_tiles(keys) if keys else {}
        partial: dict[int, bytes] = {}
        for level, number, width in edges:
            raw = data.get((level, number))
            if raw is None:
                raise LedgerError(
                    f"{_tile_name((level, number))} is missing: the tree of size {tree_size} "
                    f"cannot be continued without it",
                    hint=_REPAIR_HINT,
                )
            if len(raw) < width * HASH_SIZE:
                raise LedgerError(
                    f"{_tile_name((level, number))} holds {len(raw) // HASH_SIZE} hashes but "
                    f"the tree of size {tree_size} needs {width}",
                    hint=_REPAIR_HINT,
                )
            # A stored tile may be wider than this size needs; the tree only grows, so its
            # first `width` hashes are the ones of this size.
            partial[level] = bytes(raw[: width * HASH_SIZE])
        return cls(tree_size, partial)

    @property
    def size(self) -> int:
        """The number of leaves in the tree."""
        return self._size

    def append(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append a batch of 32-byte leaf hashes."""
        if not leaf_hashes:
            return
        batch = leaf_hashes if isinstance(leaf_hashes, list) else list(leaf_hashes)
        if not all(map(HASH_SIZE.__eq__, map(len, batch))):
            raise LedgerError(
                f"every leaf hash must be {HASH_SIZE} bytes",
                hint="pass SHA-256(0x00 || entry) digests (merkle.leaf_hash)",
            )
        self._root = None
        self._size += len(batch)
        self._push(batch)

    def _push(self, new: list[bytes]) -> None:
        # PERF: this is the write path's hot loop (~1 SHA-256 per leaf). Nodes are built level
        # by level with list comprehensions over the new pairs only; no per-node objects.
        sha256 = hashlib.sha256
        one = b"\x01"
        subs = self._subs
        counts = self._counts
        dirty = self._dirty
        level = 0
        while new:
            if level == len(subs):
                subs.append([[] for _ in range(TILE_HEIGHT)])
                counts.append(0)
            sub = subs[level]
            count = counts[level]
            promoted: list[bytes] = []
            n = len(new)
            i = 0
            while i < n:
                entries = sub[0]
                start = len(entries)
                take = min(TILE_WIDTH - start, n - i)
                if take == n:
                    entries += new
                else:
                    entries += new[i : i + take]
                i += take
                end = start + take
                # Tree level 8L+s gains the nodes start>>s .. end>>s - 1 of this tile.
                a, b = start >> 1, end >> 1
                prev = entries
                s = 1
                while a < b:
                    cur = sub[s]
                    if b - a == 1:
                        # One new node (the common case for small batches): skip the slicing.
                        cur.append(sha256(one + prev[2 * a] + prev[2 * a + 1]).digest())
                    else:
                        cur += [
                            sha256(one + left + right).digest()
                            for left, right in zip(
                                prev[2 * a : 2 * b : 2], prev[2 * a + 1 : 2 * b : 2], strict=True
                            )
                        ]
                    s += 1
                    if s == TILE_HEIGHT:
                        break
                    prev = cur
                    a >>= 1
                    b >>= 1
                number = count >> TILE_HEIGHT
                count += take
                if end == TILE_WIDTH:
                    top = sub[TILE_HEIGHT - 1]
                    promoted.append(sha256(one + top[0] + top[1]).digest())
                    dirty[(level, number)] = b"".join(entries)
                    sub = [[] for _ in range(TILE_HEIGHT)]
                    subs[level] = sub
                else:
                    # Joined when asked for, so a tile growing over many appends is joined once.
                    dirty[(level, number)] = None
            counts[level] = count
            new = promoted
            level += 1

    def dirty_tiles(self) -> list[Tile]:
        """Every tile changed since the last call (completed and partial), by (level, number).

        Clears the record: each returned row is meant to be upserted into the tile store.
        """
        out: list[Tile] = []
        for (level, number), data in sorted(self._dirty.items()):
            hashes = b"".join(self._subs[level][0]) if data is None else data
            out.append(Tile(level, number, len(hashes) // HASH_SIZE, hashes))
        self._dirty = {}
        return out

    def root(self) -> bytes:
        """MTH of the tree: one hash per set bit of the size, folded (RFC 9162 §2.1.1)."""
        if self._root is None:
            if self._size == 0:
                self._root = EMPTY_ROOT
            else:
                edge: list[bytes] = []
                for level in range(len(self._subs) - 1, -1, -1):
                    width = self._counts[level] % TILE_WIDTH
                    sub = self._subs[level]
                    for s in range(TILE_HEIGHT - 1, -1, -1):
                        if width >> s & 1:
                            edge.append(sub[s][-1])
                self._root = fold_right(edge)
        return self._root
