"""Which stored nodes an RFC 9162 root or proof needs, and how the stored tree grows.

The log stores one row per *complete* subtree, keyed by (level, index): node (l, i) is the Merkle
Tree Hash of leaves [i·2^l, (i+1)·2^l). Appending leaf i adds the leaf node and one node per level
that leaf completes, so ~2 rows per leaf, written once and never updated. Every subtree hash in an
RFC 9162 proof covers a range [a, b) whose start is aligned to its largest power of two, so it is the
right-fold of the at most log2(n) complete subtrees in the binary decomposition of b - a. An
inclusion or consistency proof for ANY pair of sizes therefore needs O(log n) stored nodes (at most
one proof element is a partial right edge), fetched by primary key in one query.

Why per-node rows rather than C2SP tlog-tiles: tiles pay off when a static HTTP server hands out
whole tiles; here proofs are built next to the database, and node rows keep every append a pure
insert (no partial tile rewritten per group commit) and every proof a single keyed lookup.

Pure code (no database): the storage layer (`ledger.store`) asks for keys, fetches them, and folds them here;
an auditor replaying leaves grows a `Frontier` without storing anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ledger.rfc9162 import EMPTY_ROOT, ProofError, node_hash, split_point

NodeKey = tuple[int, int]
Range = tuple[int, int]


def range_nodes(start: int, end: int) -> list[NodeKey]:
    """Complete subtrees covering leaves [start, end), largest first (start aligned as RFC 9162 ranges are)."""
    keys: list[NodeKey] = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start & ((1 << level) - 1):
            level -= 1
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its decomposition: RFC 9162 splits at the largest power of two, so fold from the right."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def inclusion_ranges(index: int, tree_size: int) -> list[Range]:
    """The leaf ranges whose hashes form PATH(index, D[0:tree_size]) (§2.1.3.1), leaf end first."""
    if not 0 <= index < tree_size:
        raise ProofError(f"index {index} is not below tree size {tree_size}")
    ranges: list[Range] = []
    lo, hi = 0, tree_size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_ranges(size1: int, size2: int) -> list[Range]:
    """The leaf ranges whose hashes form PROOF(size1, D[0:size2]) (§2.1.4.1); empty for size1 in {0, size2}."""
    if not 0 <= size1 <= size2:
        raise ProofError(f"size1 {size1} is not within 0..size2 ({size2})")
    if size1 in (0, size2):
        return []
    ranges: list[Range] = []
    lo, hi, m, complete = 0, size2, size1, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                ranges.append((lo, hi))
            break
        k = split_point(n)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            m -= k
            complete = False
    ranges.reverse()
    return ranges


def keys_for(ranges: Iterable[Range]) -> list[NodeKey]:
    """Every stored node the ranges need, without duplicates."""
    return list(dict.fromkeys(key for start, end in ranges for key in range_nodes(start, end)))


def assemble(ranges: Sequence[Range], nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    """The proof (or, for one range, the root) from fetched nodes; KeyError names a missing node."""
    return [fold([nodes[key] for key in range_nodes(start, end)]) for start, end in ranges]


class Frontier:
    """The right edge of the tree (its complete subtrees, largest first): all an append needs to know.

    Appending emits the new leaf node and every node it completes, exactly the rows the store inserts.
    """

    __slots__ = ("size", "stack")

    def __init__(self, size: int, hashes: Sequence[bytes]) -> None:
        keys = range_nodes(0, size)
        if len(keys) != len(hashes):
            raise ValueError(f"a frontier of size {size} has {len(keys)} nodes, got {len(hashes)}")
        self.size = size
        self.stack = [(level, h) for (level, _), h in zip(keys, hashes, strict=True)]

    def copy(self) -> Frontier:
        return Frontier(self.size, [h for _, h in self.stack])

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the (level, index, hash) rows it creates."""
        i = self.size
        level, node = 0, leaf
        rows = [(0, i, leaf)]
        while self.stack and self.stack[-1][0] == level:
            _, left = self.stack.pop()
            node = node_hash(left, node)
            level += 1
            rows.append((level, i >> level, node))
        self.stack.append((level, node))
        self.size += 1
        return rows

    def root(self) -> bytes:
        return fold([h for _, h in self.stack])
