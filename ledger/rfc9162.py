"""RFC 9162 §2.1 Merkle Tree hashing, audit paths and consistency proofs.

Pure functions over bytes: no storage in sight, so an auditor can take this module alone. The
builders here work on an in-memory list of leaves and are the reference the stored tree is tested
against; the verifiers are what every auditor runs.

Edge cases, decided per the RFC:
- The Merkle Tree Hash of the empty list is SHA-256 of the empty string (§2.1.1).
- An inclusion proof needs 0 <= index < tree_size; a tree of size 0 contains nothing.
- A consistency proof between equal sizes is empty and holds exactly when the roots are equal.
- A consistency proof from size 0 is empty and holds when root1 is the empty-tree hash: the empty
  log is a prefix of every log (§2.1.4 leaves size 0 undefined; this is the only sound reading).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof, size or index failed verification; the message says which rule it broke."""


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d): the prefix keeps a leaf from posing as an interior node."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1): where §2.1.1 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_hashes(hashes: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash given the leaf hashes; iterative so a million leaves do not recurse."""
    if not hashes:
        return EMPTY_ROOT
    # Fold complete subtrees left to right, keeping a stack of (height, hash) like a binary counter.
    stack: list[tuple[int, bytes]] = []
    for h in hashes:
        height, node = 0, h
        while stack and stack[-1][0] == height:
            _, left = stack.pop()
            node = node_hash(left, node)
            height += 1
        stack.append((height, node))
    _, root = stack.pop()
    while stack:
        _, left = stack.pop()
        root = node_hash(left, root)
    return root


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash (§2.1.1) of the raw leaf data."""
    return root_from_hashes([leaf_hash(d) for d in leaves])


def _path(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    n = len(hashes)
    if n <= 1:
        return []
    k = split_point(n)
    if m < k:
        return [*_path(m, hashes[:k]), root_from_hashes(hashes[k:])]
    return [*_path(m - k, hashes[k:]), root_from_hashes(hashes[:k])]


def _subproof(m: int, hashes: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if complete else [root_from_hashes(hashes)]
    k = split_point(n)
    if m <= k:
        return [*_subproof(m, hashes[:k], complete), root_from_hashes(hashes[k:])]
    return [*_subproof(m - k, hashes[k:], False), root_from_hashes(hashes[:k])]


def _check_size(leaves: Sequence[bytes], tree_size: int) -> None:
    if not 0 <= tree_size <= len(leaves):
        raise ProofError(f"tree size {tree_size} outside 0..{len(leaves)}")


def inclusion_proof(leaves: Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """The audit path PATH(index, D[0:tree_size]) of §2.1.3.1 (0-based index)."""
    _check_size(leaves, tree_size)
    if not 0 <= index < tree_size:
        raise ProofError(f"index {index} is not below tree size {tree_size}")
    return _path(index, [leaf_hash(d) for d in leaves[:tree_size]])


def consistency_proof(leaves: Sequence[bytes], size1: int, size2: int) -> list[bytes]:
    """PROOF(size1, D[0:size2]) of §2.1.4.1; empty when size1 is 0 or equals size2."""
    _check_size(leaves, size2)
    if not 0 <= size1 <= size2:
        raise ProofError(f"size1 {size1} is not within 0..size2 ({size2})")
    if size1 in (0, size2):
        return []
    return _subproof(size1, [leaf_hash(d) for d in leaves[:size2]], True)


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} is {len(value)} bytes, expected {HASH_SIZE}")


def root_from_inclusion_proof(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes]) -> bytes:
    """The root an audit path implies (§2.1.3.2 steps 1-3); raises when the path cannot fit the size."""
    if tree_size < 0 or index < 0:
        raise ProofError("index and tree size must not be negative")
    if index >= tree_size:
        raise ProofError(f"index {index} is not below tree size {tree_size}")
    _check_hash("leaf hash", leaf)
    fn, sn, r = index, tree_size - 1, leaf
    for i, p in enumerate(proof):
        _check_hash(f"proof[{i}]", p)
        if sn == 0:
            raise ProofError(f"inclusion proof too long: {len(proof)} hashes for tree size {tree_size}")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"inclusion proof too short: {len(proof)} hashes for tree size {tree_size}")
    return r


def verify_inclusion(leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2: raise ProofError unless the leaf is at `index` of the tree with `root`."""
    _check_hash("root", root)
    computed = root_from_inclusion_proof(leaf_hash, index, tree_size, proof)
    if not hmac.compare_digest(computed, root):
        raise ProofError(f"inclusion proof for index {index} does not lead to the root of size {tree_size}")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """RFC 9162 §2.1.4.2: raise ProofError unless the tree of size1 is a prefix of the tree of size2."""
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    if size1 < 0 or size2 < 0:
        raise ProofError("tree sizes must not be negative")
    if size1 > size2:
        raise ProofError(f"size1 {size1} is larger than size2 {size2}")
    if size1 == size2:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if not hmac.compare_digest(root1, root2):
            raise ProofError(f"roots differ at the same size {size1}")
        return
    if size1 == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty")
        if not hmac.compare_digest(root1, EMPTY_ROOT):
            raise ProofError("root1 is not the empty-tree hash for size 0")
        return
    if not proof:
        raise ProofError(f"empty consistency proof for sizes {size1} < {size2}")
    for i, p in enumerate(proof):
        _check_hash(f"proof[{i}]", p)
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: its root is a node of the new tree
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"consistency proof too long for sizes {size1}, {size2}")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"consistency proof too short for sizes {size1}, {size2}")
    if not hmac.compare_digest(fr, root1):
        raise ProofError(f"consistency proof does not reproduce root1 of size {size1}")
    if not hmac.compare_digest(sr, root2):
        raise ProofError(f"consistency proof does not reproduce root2 of size {size2}")
