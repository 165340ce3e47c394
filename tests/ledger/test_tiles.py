"""mamori.ledger.tiles: the builder and reader against tiles and trees built from scratch."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.ledger.errors import LedgerError
from mamori.ledger.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    root,
    verify_consistency,
    verify_inclusion,
)
from mamori.ledger.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    MemoryTileSource,
    Tile,
    TileBuilder,
    TileCache,
    TileNodeReader,
    edge_tiles,
    split_hashes,
    tile_width,
)
from tests.ledger.naive_rfc9162 import NaiveTree

# --- From-scratch reference --------------------------------------------------------------
# Every level of the whole tree by plain pairwise hashing, and the RFC 9162 MTH / PATH /
# PROOF by their recursive definitions. Tiles of any prefix size are slices of the levels.

BIG = (1 << 16) + 700  # reaches tile level 2 (tree level 16)
LEAVES = [hashlib.sha256(b"\x00" + b"entry %d" % i).digest() for i in range(BIG)]


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    levels = [leaves]
    while len(levels[-1]) > 1:
        prev = levels[-1]
        levels.append([_node(prev[2 * j], prev[2 * j + 1]) for j in range(len(prev) // 2)])
    return levels


LEVELS = _levels(LEAVES)


def scratch_tiles(size: int) -> dict[tuple[int, int], bytes]:
    """Every tile of the tree of `size` leaves, built from the complete levels."""
    tiles: dict[tuple[int, int], bytes] = {}
    level = 0
    while TILE_HEIGHT * level < len(LEVELS):
        count = size >> (TILE_HEIGHT * level)
        row = LEVELS[TILE_HEIGHT * level][:count]
        for number in range(0, -(-count // TILE_WIDTH)):
            tiles[(level, number)] = b"".join(row[number * TILE_WIDTH : (number + 1) * TILE_WIDTH])
        level += 1
    return tiles


NAIVE = NaiveTree(LEAVES)
mth = NAIVE.mth
path = NAIVE.path
subproof = NAIVE.subproof


class CountingSource(MemoryTileSource):
    """A MemoryTileSource that records every read_tiles call."""

    def __init__(self, tiles: dict[tuple[int, int], bytes] | None = None) -> None:
        super().__init__(tiles)
        self.reads: list[list[tuple[int, int]]] = []

    def read_tiles(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        self.reads.append(list(keys))
        return super().read_tiles(keys)


def split_into_batches(rng: random.Random, start: int, end: int, most: int) -> list[int]:
    out = []
    pos = start
    while pos < end:
        step = min(end - pos, rng.choice([1, 2, 3, 7, rng.randint(1, most)]))
        out.append(step)
        pos += step
    return out


def build(builder: TileBuilder, store: MemoryTileSource, batches: list[int]) -> None:
    """Append `batches` to the builder, checking tiles and root at every boundary."""
    for b in batches:
        before = scratch_tiles(builder.size)
        start = builder.size
        builder.append(LEAVES[start : start + b])
        size = builder.size
        assert size == start + b
        assert builder.root() == mth(0, size)
        dirty = builder.dirty_tiles()
        now = scratch_tiles(size)
        # Exactly the tiles that changed, each once, in (level, number) order, well formed.
        assert [(t.level, t.number) for t in dirty] == sorted(
            k for k in now if before.get(k) != now[k]
        )
        for t in dirty:
            assert isinstance(t, Tile)
            assert t.hashes == now[(t.level, t.number)]
            assert t.width == len(t.hashes) // 32 == tile_width(t.level, t.number, size)
        store.write_tiles(dirty)
        assert store.tiles == now
        assert builder.dirty_tiles() == []


# --- Layout helpers ------------------------------------------------------------------------


def test_constants() -> None:
    assert TILE_HEIGHT == 8
    assert TILE_WIDTH == 256


def test_tile_width_and_edge_tiles() -> None:
    assert tile_width(0, 0, 0) == 0
    assert tile_width(0, 0, 1) == 1
    assert tile_width(0, 0, 256) == 256
    assert tile_width(0, 1, 256) == 0
    assert tile_width(0, 1, 300) == 44
    assert tile_width(1, 0, 300) == 1
    assert tile_width(1, 0, 255) == 0
    assert tile_width(2, 0, 1 << 16) == 1
    assert edge_tiles(0) == []
    assert edge_tiles(5) == [(0, 0, 5)]
    assert edge_tiles(256) == [(1, 0, 1)]
    assert edge_tiles(256 * 256) == [(2, 0, 1)]
    assert edge_tiles(256 * 257 + 3) == [(0, 257, 3), (1, 1, 1), (2, 0, 1)]
    assert split_hashes(bytes(range(64)) + b"x") == [bytes(range(32)), bytes(range(32, 64))]


def test_memory_source_rejects_malformed_tiles() -> None:
    src = MemoryTileSource()
    with pytest.raises(LedgerError, match="tile 0/0"):
        src.write_tiles([(0, 0, 2, bytes(32))])
    with pytest.raises(LedgerError):
        src.write_tiles([(0, 0, 0, b"")])
    with pytest.raises(LedgerError):
        src.write_tiles([(0, 0, 257, bytes(32 * 257))])
    src.write_tiles([(0, 0, 1, bytes(32))])
    assert src.read_tiles([(0, 0), (0, 1)]) == {(0, 0): bytes(32)}


# --- TileBuilder ---------------------------------------------------------------------------


def test_empty_builder() -> None:
    b = TileBuilder()
    assert b.size == 0
    assert b.root() == EMPTY_ROOT
    assert b.dirty_tiles() == []
    b.append([])
    assert b.size == 0
    assert b.dirty_tiles() == []


def test_single_leaf_tree_root_is_the_leaf() -> None:
    b = TileBuilder()
    b.append(LEAVES[:1])
    assert b.root() == LEAVES[0]
    assert b.dirty_tiles() == [Tile(0, 0, 1, LEAVES[0])]


def test_full_tile_then_partial_tiles() -> None:
    b = TileBuilder()
    b.append(LEAVES[:256])
    assert b.dirty_tiles() == [
        Tile(0, 0, 256, b"".join(LEAVES[:256])),
        Tile(1, 0, 1, LEVELS[8][0]),
    ]
    b.append(LEAVES[256:300])
    # The full tile 0/0 is not rewritten; the new partial tile 0/1 is, and level 1 is unchanged.
    assert b.dirty_tiles() == [Tile(0, 1, 44, b"".join(LEAVES[256:300]))]
    assert b.root() == mth(0, 300)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3000), st.integers(0, 2**32))
def test_random_batches_match_scratch_build(size: int, seed: int) -> None:
    rng = random.Random(seed)
    builder, store = TileBuilder(), MemoryTileSource()
    build(builder, store, split_into_batches(rng, 0, size, most=rng.choice([5, 60, 700])))
    assert builder.size == size


def test_big_tree_reaches_level_two() -> None:
    rng = random.Random(2)
    builder, store = TileBuilder(), MemoryTileSource()
    # Big batches up to just below 2**16, then fine-grained ones across the level-2 boundary.
    builder.append(LEAVES[: (1 << 16) - 300])
    store.write_tiles(builder.dirty_tiles())
    assert builder.root() == mth(0, builder.size)
    build(builder, store, split_into_batches(rng, builder.size, BIG, most=90))
    assert (2, 0) in store.tiles
    assert store.tiles == scratch_tiles(BIG)
    assert builder.root() == mth(0, BIG)


def test_one_batch_equals_many() -> None:
    size = 256 * 3 + 17
    one = TileBuilder()
    one.append(LEAVES[:size])
    many = TileBuilder()
    for i in range(size):
        many.append([LEAVES[i]])
    assert one.root() == many.root() == mth(0, size)
    assert one.dirty_tiles() == many.dirty_tiles()


def test_append_accepts_any_sequence() -> None:
    b = TileBuilder()
    b.append(tuple(LEAVES[:10]))
    assert b.root() == mth(0, 10)


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33)])
def test_append_rejects_wrong_hash_sizes_without_changing_state(bad: bytes) -> None:
    b = TileBuilder()
    b.append(LEAVES[:5])
    b.dirty_tiles()
    with pytest.raises(LedgerError, match="32 bytes"):
        b.append([LEAVES[5], bad, LEAVES[6]])
    assert b.size == 5
    assert b.root() == mth(0, 5)
    assert b.dirty_tiles() == []


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2600), st.integers(0, 600), st.integers(0, 2**32))
def test_resume_continues_identically(first: int, more: int, seed: int) -> None:
    rng = random.Random(seed)
    store = MemoryTileSource()
    a = TileBuilder()
    for b in split_into_batches(rng, 0, first, most=400):
        a.append(LEAVES[a.size : a.size + b])
        store.write_tiles(a.dirty_tiles())
    resumed = TileBuilder.resume(first, store)
    assert resumed.size == first
    assert resumed.root() == mth(0, first)
    assert resumed.dirty_tiles() == []
    build(resumed, store, split_into_batches(rng, first, first + more, most=300))
    assert store.tiles == scratch_tiles(first + more)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3000), st.data())
def test_resume_from_a_store_that_is_ahead(size: int, data: st.DataObject) -> None:
    # The stored partial tiles are wider than the size resumed at (e.g. a checkpoint older
    # than the tiles): only their first hashes count, and appending rewrites them identically.
    store = MemoryTileSource(scratch_tiles(size))
    at = data.draw(st.integers(0, size), label="resume at")
    b = TileBuilder.resume(at, store)
    assert b.root() == mth(0, at)
    b.append(LEAVES[at:size])
    assert b.root() == mth(0, size)
    store2 = MemoryTileSource(scratch_tiles(at))
    store2.write_tiles(b.dirty_tiles())
    assert store2.tiles == scratch_tiles(size)


def test_constructor_takes_the_partial_tiles() -> None:
    size = 256 * 256 + 256 * 2 + 5
    partial = {level: scratch_tiles(size)[(level, number)] for level, number, _ in edge_tiles(size)}
    assert sorted(partial) == [0, 1, 2]
    b = TileBuilder(size, partial)
    assert b.root() == mth(0, size)
    b.append(LEAVES[size:BIG])
    assert b.root() == mth(0, BIG)


def test_constructor_rejects_wrong_partial_tiles() -> None:
    with pytest.raises(LedgerError, match="levels"):
        TileBuilder(5, {})
    with pytest.raises(LedgerError, match="levels"):
        TileBuilder(256, {0: bytes(32)})
    with pytest.raises(LedgerError, match="holds 5 hashes"):
        TileBuilder(5, {0: bytes(32 * 4)})
    with pytest.raises(LedgerError):
        TileBuilder(-1)


def test_resume_names_a_missing_or_short_tile() -> None:
    store = MemoryTileSource(scratch_tiles(300))
    with pytest.raises(LedgerError, match="tile 0/2 is missing"):
        TileBuilder.resume(600, store)
    with pytest.raises(LedgerError, match=r"tile 0/1 holds 44 hashes .* needs 50"):
        TileBuilder.resume(306, store)
    store2 = MemoryTileSource({k: v for k, v in scratch_tiles(300).items() if k != (1, 0)})
    with pytest.raises(LedgerError, match="tile 1/0 is missing"):
        TileBuilder.resume(300, store2)
    assert TileBuilder.resume(0, MemoryTileSource()).root() == EMPTY_ROOT


def test_root_is_cached_and_cheap() -> None:
    b = TileBuilder()
    b.append(LEAVES[:1000])
    r = b.root()
    assert b.root() is r
    b.append(LEAVES[1000:1001])
    assert b.root() == mth(0, 1001)


# --- TileNodeReader ------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_reader_proofs_match_naive(data: st.DataObject) -> None:
    size = data.draw(st.one_of(st.integers(1, 3000), st.integers(BIG - 2000, BIG)), label="size")
    src = CountingSource(scratch_tiles(size))
    reader = TileNodeReader(src, size)
    assert reader.tree_size == size
    rt = mth(0, size)
    assert root(size, reader) == rt

    index = data.draw(st.integers(0, size - 1), label="index")
    src.reads.clear()
    proof = inclusion_proof(index, size, reader)
    assert proof == path(index, 0, size)
    assert len(src.reads) <= 1  # one batched read (none if everything was cached)
    assert verify_inclusion(LEAVES[index], index, size, proof, rt)
    assert reader.nodes([(0, index)]) == [LEAVES[index]]

    old = data.draw(st.integers(1, size), label="old")
    src.reads.clear()
    cproof = consistency_proof(old, size, reader)
    assert cproof == subproof(old, 0, size, True)
    assert len(src.reads) <= 1
    assert verify_consistency(old, size, mth(0, old), rt, cproof)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, BIG), st.data())
def test_reader_nodes_are_the_perfect_subtrees(size: int, data: st.DataObject) -> None:
    level = data.draw(st.integers(0, size.bit_length() - 1), label="level")
    index = data.draw(st.integers(0, (size >> level) - 1), label="index")
    reader = TileNodeReader(MemoryTileSource(scratch_tiles(size)), size)
    assert reader.nodes([(level, index)]) == [LEVELS[level][index]]


def test_reader_batches_reads_and_caches_full_tiles() -> None:
    size = 256 * 256 + 256 * 2 + 9
    src = CountingSource(scratch_tiles(size))
    reader = TileNodeReader(src, size)
    coords = [(0, 0), (0, 300), (3, 40), (8, 0), (9, 1), (16, 0), (0, size - 1)]
    assert reader.nodes(coords) == [LEVELS[h][i] for h, i in coords]
    # (3, 40) is in tile 0/1, (9, 1) in tile 1/0, the last leaf in the partial tile 0/258.
    assert src.reads == [[(0, 0), (0, 1), (0, 258), (1, 0), (2, 0)]]
    # Everything is now held: full tiles in the cache, partial ones for this reader.
    assert reader.nodes(coords) == [LEVELS[h][i] for h, i in coords]
    assert len(src.reads) == 1
    # A reader at another size shares the cache of full tiles but not the partial tiles.
    other = reader.with_size(size - 3)
    src.reads.clear()
    assert other.nodes([(0, 0), (0, size - 4)]) == [LEVELS[0][0], LEVELS[0][size - 4]]
    assert src.reads == [[(0, 258)]]
    assert reader.nodes([]) == []


def test_reader_cache_is_bounded() -> None:
    size = 256 * 10
    src = CountingSource(scratch_tiles(size))
    cache = TileCache(capacity=3)
    reader = TileNodeReader(src, size, cache=cache)
    for n in range(10):
        reader.nodes([(0, n * 256)])
    assert len(cache) == 3
    src.reads.clear()
    reader.nodes([(0, 9 * 256 + 1), (0, 0)])
    assert src.reads == [[(0, 0)]]


def test_reader_names_missing_and_short_tiles() -> None:
    tiles = scratch_tiles(700)
    del tiles[(0, 1)]
    del tiles[(1, 0)]
    reader = TileNodeReader(MemoryTileSource(tiles), 700)
    with pytest.raises(LedgerError, match=r"tile 0/1, tile 1/0 needed .* are missing"):
        reader.nodes([(0, 300), (8, 1)])
    with pytest.raises(LedgerError, match=r"^tile 1/0 needed"):
        inclusion_proof(0, 700, reader)  # its path uses the level-8 node 1, not tile 0/1
    short = TileNodeReader(MemoryTileSource(scratch_tiles(690)), 700)
    with pytest.raises(LedgerError, match=r"tile 0/2 holds 5696 bytes .* needs 188 hashes"):
        short.nodes([(0, 699)])


@pytest.mark.parametrize(
    "coord", [(0, 700), (1, 350), (9, 1), (10, 0), (10**9, 0), (-1, 0), (0, -1)]
)
def test_reader_refuses_nodes_outside_its_tree(coord: tuple[int, int]) -> None:
    reader = TileNodeReader(MemoryTileSource(scratch_tiles(700)), 700)
    with pytest.raises(LedgerError, match="not a complete subtree"):
        reader.nodes([coord])


def test_reader_over_a_grown_store_serves_its_own_size() -> None:
    store = MemoryTileSource(scratch_tiles(3000))
    reader = TileNodeReader(store, 1000)
    assert root(1000, reader) == mth(0, 1000)
    assert inclusion_proof(999, 1000, reader) == path(999, 0, 1000)


def test_writer_and_reader_round_trip() -> None:
    # The write path's tiles serve the proof path: build, store, prove, verify.
    rng = random.Random(7)
    builder, store = TileBuilder(), MemoryTileSource()
    for b in split_into_batches(rng, 0, 5000, most=500):
        builder.append(LEAVES[builder.size : builder.size + b])
        store.write_tiles(builder.dirty_tiles())
        size = builder.size
        reader = TileNodeReader(store, size)
        assert root(size, reader) == builder.root()
        i = rng.randrange(size)
        assert verify_inclusion(
            LEAVES[i], i, size, inclusion_proof(i, size, reader), builder.root()
        )
