"""RFC 9162 §2.1 Merkle Tree hashing and proofs against the reference implementations' published data.

Known answers: the eight leaf inputs, node hashes and root hashes of transparency-dev/merkle `testonly`
(inherited from google/certificate-transparency), the audit and consistency paths of its
`proof/verify_test.go`, and the node-id proofs of `proof/proof_test.go`. Properties: hypothesis over
random trees, with every mutation the verifier must catch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import (
    EMPTY_ROOT,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_hashes,
    root_hash,
    verify_consistency,
    verify_inclusion,
)


def h(hex_digest: str) -> bytes:
    return bytes.fromhex(hex_digest)


LEAF_INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]

# NODE_HASHES[level][index]: every complete subtree of the 8-leaf tree (testonly.NodeHashes).
NODE_HASHES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [
        h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    ],
]

# ROOT_HASHES[size] for sizes 0..8 (testonly.RootHashes).
ROOT_HASHES = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")

# proof/verify_test.go inclusionProofs: (1-based leaf, tree size, audit path); {0, 0, nil} is invalid there too.
INCLUSION_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (3, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        2,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# proof/verify_test.go consistencyProofs: (size1, size2, proof).
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]


def n(level: int, index: int) -> bytes:
    """compact.NewNodeID(level, index) resolved to its published hash."""
    return NODE_HASHES[level][index]


# l = hash(i, j): proof_test.go's "rehash" of the missing right parent in the tree of size 7.
L7 = node_hash(n(1, 2), n(0, 6))

# proof/proof_test.go TestInclusion, the cases within the 8-leaf tree: (size, index, node ids).
INCLUSION_NODE_VECTORS = [
    (1, 0, []),
    (2, 0, [n(0, 1)]),
    (2, 1, [n(0, 0)]),
    (3, 1, [n(0, 0), n(0, 2)]),
    (7, 0, [n(0, 1), n(1, 1), L7]),
    (7, 1, [n(0, 0), n(1, 1), L7]),
    (7, 2, [n(0, 3), n(1, 0), L7]),
    (7, 3, [n(0, 2), n(1, 0), L7]),
    (7, 4, [n(0, 5), n(0, 6), n(2, 0)]),
    (7, 5, [n(0, 4), n(0, 6), n(2, 0)]),
    (7, 6, [n(1, 2), n(2, 0)]),
    (4, 2, [n(0, 3), n(1, 0)]),
    (5, 3, [n(0, 2), n(1, 0), n(0, 4)]),
    (6, 3, [n(0, 2), n(1, 0), n(1, 2)]),
    (6, 4, [n(0, 5), n(2, 0)]),
]

# proof/proof_test.go TestConsistency, the cases within the 8-leaf tree: (size1, size2, node ids).
CONSISTENCY_NODE_VECTORS = [
    (1, 2, [n(0, 1)]),
    (1, 4, [n(0, 1), n(1, 1)]),
    (1, 6, [n(0, 1), n(1, 1), n(1, 2)]),
    (2, 3, [n(0, 2)]),
    (2, 8, [n(1, 1), n(2, 1)]),
    (3, 7, [n(0, 2), n(0, 3), n(1, 0), L7]),
    (4, 7, [L7]),
    (5, 7, [n(0, 4), n(0, 5), n(0, 6), n(2, 0)]),
    (6, 7, [n(1, 2), n(0, 6), n(2, 0)]),
    (7, 8, [n(0, 6), n(0, 7), n(1, 2), n(2, 0)]),
    (2, 4, [n(1, 1)]),
    (3, 5, [n(0, 2), n(0, 3), n(1, 0), n(0, 4)]),
    (3, 6, [n(0, 2), n(0, 3), n(1, 0), n(1, 2)]),
    (4, 6, [n(1, 2)]),
    (1, 7, [n(0, 1), n(1, 1), L7]),
    *((size, size, []) for size in (1, 2, 3, 4, 5, 7, 8)),
]


# --- §2.1.1 Merkle Tree Hash --------------------------------------------------------------------


def test_empty_tree_hash_is_sha256_of_the_empty_string() -> None:
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == ROOT_HASHES[0]
    assert root_hash([]) == EMPTY_ROOT
    assert root_from_hashes([]) == EMPTY_ROOT


def test_leaf_hash_prefixes_0x00_and_node_hash_prefixes_0x01() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()


def test_leaf_hashes_of_the_reference_inputs() -> None:
    assert [leaf_hash(d) for d in LEAF_INPUTS] == NODE_HASHES[0]


@pytest.mark.parametrize("level", range(4))
def test_every_complete_subtree_hash(level: int) -> None:
    width = 1 << level
    for index, expected in enumerate(NODE_HASHES[level]):
        assert root_hash(LEAF_INPUTS[index * width : (index + 1) * width]) == expected


@pytest.mark.parametrize("size", range(9))
def test_root_hash_of_each_prefix_size_0_to_8(size: int) -> None:
    assert root_hash(LEAF_INPUTS[:size]) == ROOT_HASHES[size]
    assert root_from_hashes(NODE_HASHES[0][:size]) == ROOT_HASHES[size]


# --- §2.1.3 inclusion proofs --------------------------------------------------------------------


def corrupt_inclusion_probes(
    index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[str, int, int, list[bytes], bytes, bytes]]:
    """verify_test.go corruptInclusionProof: each probe must be rejected."""
    probes = [
        ("index - 1", index - 1, size, proof, root, leaf),
        ("index + 1", index + 1, size, proof, root, leaf),
        ("index ^ 2", index ^ 2, size, proof, root, leaf),
        ("size * 2", index, size * 2, proof, root, leaf),
        ("size / 2", index, size // 2, proof, root, leaf),
        ("wrong leaf", index, size, proof, root, b"WrongLeaf"),
        ("empty root", index, size, proof, EMPTY_ROOT, leaf),
        ("random root", index, size, proof, SOME_HASH, leaf),
        ("trailing garbage", index, size, [*proof, b""], root, leaf),
        ("trailing root", index, size, [*proof, root], root, leaf),
        ("preceding garbage", index, size, [b"", *proof], root, leaf),
        ("preceding root", index, size, [root, *proof], root, leaf),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((f"proof[{i}] bit 3", index, size, flipped, root, leaf))
    if proof:
        probes.append(("removed component", index, size, proof[:-1], root, leaf))
    if len(proof) > 1:
        probes.append(("inserted component", index, size, [proof[0], SOME_HASH, *proof[1:]], root, leaf))
    return probes


@pytest.mark.parametrize(("leaf_number", "size", "expected"), INCLUSION_VECTORS)
def test_published_audit_paths(leaf_number: int, size: int, expected: list[bytes]) -> None:
    index = leaf_number - 1
    assert inclusion_proof(LEAF_INPUTS, index, size) == expected
    verify_inclusion(leaf_hash(LEAF_INPUTS[index]), index, size, expected, ROOT_HASHES[size])


@pytest.mark.parametrize(("leaf_number", "size", "expected"), INCLUSION_VECTORS)
def test_published_audit_paths_reject_every_corruption(leaf_number: int, size: int, expected: list[bytes]) -> None:
    index = leaf_number - 1
    probes = corrupt_inclusion_probes(index, size, expected, ROOT_HASHES[size], leaf_hash(LEAF_INPUTS[index]))
    accepted = []
    for desc, p_index, p_size, p_proof, p_root, p_leaf in probes:
        try:
            verify_inclusion(p_leaf, p_index, p_size, p_proof, p_root)
        except ProofError:
            continue
        accepted.append(desc)
    assert accepted == []


@pytest.mark.parametrize(("size", "index", "expected"), INCLUSION_NODE_VECTORS)
def test_audit_paths_are_the_published_nodes(size: int, index: int, expected: list[bytes]) -> None:
    assert inclusion_proof(LEAF_INPUTS, index, size) == expected
    verify_inclusion(NODE_HASHES[0][index], index, size, expected, ROOT_HASHES[size])


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (3, 0), (2, 1), (8, 7), (-1, 4)])
def test_inclusion_needs_index_below_size(index: int, size: int) -> None:
    with pytest.raises(ProofError, match=r"index|negative"):
        inclusion_proof(LEAF_INPUTS, index, size)
    with pytest.raises(ProofError, match=r"index|negative"):
        verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)


def test_inclusion_proof_for_a_size_beyond_the_leaves_is_refused() -> None:
    with pytest.raises(ProofError, match=r"tree size 9 outside 0\.\.8"):
        inclusion_proof(LEAF_INPUTS, 0, 9)


def test_single_leaf_tree_root_is_the_leaf_hash_and_the_path_is_empty() -> None:
    # verify_test.go TestVerifyInclusionSingleEntry, with our wrong-length checks named.
    lh = leaf_hash(b"data")
    verify_inclusion(lh, 0, 1, [], lh)
    with pytest.raises(ProofError, match="leaf hash is 0 bytes"):
        verify_inclusion(b"", 0, 1, [], lh)
    with pytest.raises(ProofError, match="root is 0 bytes"):
        verify_inclusion(lh, 0, 1, [], b"")


def test_the_bare_proof_does_not_bind_the_tree_size() -> None:
    """Leaf 0's path in size 4 computes the same root as a size-3 path: the signed checkpoint binds the size.

    RFC 9162 verification only shows the root follows from the path under the claimed size; a verifier
    that takes (size, root) from a signed checkpoint is safe, since root4 is never the signed root of size 3.
    """
    path4 = inclusion_proof(LEAF_INPUTS, 0, 4)
    verify_inclusion(NODE_HASHES[0][0], 0, 3, path4, ROOT_HASHES[4])
    with pytest.raises(ProofError, match="does not lead to the root"):
        verify_inclusion(NODE_HASHES[0][0], 0, 3, path4, ROOT_HASHES[3])


# --- §2.1.4 consistency proofs ------------------------------------------------------------------


def corrupt_consistency_probes(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> list[tuple[str, int, int, list[bytes], bytes, bytes]]:
    """verify_test.go corruptConsistencyProof: each probe must be rejected."""
    probes = [
        ("size1 - 1", size1 - 1, size2, proof, root1, root2),
        ("size1 + 1", size1 + 1, size2, proof, root1, root2),
        ("size1 ^ 2", size1 ^ 2, size2, proof, root1, root2),
        ("size2 * 2", size1, size2 * 2, proof, root1, root2),
        ("size2 / 2", size1, size2 // 2, proof, root1, root2),
        ("wrong root1", size1, size2, proof, b"WrongRoot", root2),
        ("wrong root2", size1, size2, proof, root1, b"WrongRoot"),
        ("swapped roots", size1, size2, proof, root2, root1),
        ("empty proof", size1, size2, [], root1, root2),
        ("trailing garbage", size1, size2, [*proof, b""], root1, root2),
        ("trailing root1", size1, size2, [*proof, root1], root1, root2),
        ("trailing root2", size1, size2, [*proof, root2], root1, root2),
        ("preceding garbage", size1, size2, [b"", *proof], root1, root2),
        ("preceding root1", size1, size2, [root1, *proof], root1, root2),
        ("preceding root2", size1, size2, [root2, *proof], root1, root2),
        ("preceding proof[0]", size1, size2, [proof[0], *proof], root1, root2),
        ("truncated proof", size1, size2, proof[:-1], root1, root2),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((f"proof[{i}] bit 4", size1, size2, flipped, root1, root2))
    return probes


@pytest.mark.parametrize(("size1", "size2", "expected"), CONSISTENCY_VECTORS)
def test_published_consistency_proofs(size1: int, size2: int, expected: list[bytes]) -> None:
    assert consistency_proof(LEAF_INPUTS, size1, size2) == expected
    verify_consistency(size1, size2, expected, ROOT_HASHES[size1], ROOT_HASHES[size2])


@pytest.mark.parametrize(("size1", "size2", "expected"), [v for v in CONSISTENCY_VECTORS if v[2]])
def test_published_consistency_proofs_reject_every_corruption(size1: int, size2: int, expected: list[bytes]) -> None:
    accepted = []
    for desc, s1, s2, proof, r1, r2 in corrupt_consistency_probes(
        size1, size2, ROOT_HASHES[size1], ROOT_HASHES[size2], expected
    ):
        try:
            verify_consistency(s1, s2, proof, r1, r2)
        except ProofError:
            continue
        accepted.append(desc)
    assert accepted == []


@pytest.mark.parametrize(("size1", "size2", "expected"), CONSISTENCY_NODE_VECTORS)
def test_consistency_proofs_are_the_published_nodes(size1: int, size2: int, expected: list[bytes]) -> None:
    assert consistency_proof(LEAF_INPUTS, size1, size2) == expected
    verify_consistency(size1, size2, expected, ROOT_HASHES[size1], ROOT_HASHES[size2])


@pytest.mark.parametrize(("size1", "size2"), [(5, 0), (9, 8), (2, 1), (1, 0)])
def test_consistency_refuses_size1_above_size2(size1: int, size2: int) -> None:
    with pytest.raises(ProofError, match="size1"):
        consistency_proof(LEAF_INPUTS, size1, size2)
    with pytest.raises(ProofError, match=f"size1 {size1} is larger than size2 {size2}"):
        verify_consistency(size1, size2, [], EMPTY_ROOT, EMPTY_ROOT)


def test_consistency_refuses_negative_sizes() -> None:
    with pytest.raises(ProofError, match="negative"):
        verify_consistency(-1, 3, [], EMPTY_ROOT, EMPTY_ROOT)


def test_size1_equal_size2_holds_exactly_when_roots_are_equal_and_the_proof_is_empty() -> None:
    # Decision (verify_test.go agrees): equal sizes need equal roots and an empty proof.
    for size in range(9):
        assert consistency_proof(LEAF_INPUTS, size, size) == []
        verify_consistency(size, size, [], ROOT_HASHES[size], ROOT_HASHES[size])
    with pytest.raises(ProofError, match="roots differ at the same size 1"):
        verify_consistency(1, 1, [], ROOT_HASHES[1], ROOT_HASHES[2])
    with pytest.raises(ProofError, match="between equal sizes must be empty"):
        verify_consistency(1, 1, [EMPTY_ROOT], ROOT_HASHES[1], ROOT_HASHES[1])


def test_size1_zero_holds_only_for_the_empty_tree_hash_and_an_empty_proof() -> None:
    """Decision: RFC 9162 leaves size 0 undefined; the empty log is a prefix of every log, but its root is fixed.

    Stricter than transparency-dev/merkle, which accepts any root1 at size 0: a checkpoint of size 0
    whose root is not SHA-256("") is malformed and must not pass as consistent.
    """
    for size2 in range(9):
        assert consistency_proof(LEAF_INPUTS, 0, size2) == []
        verify_consistency(0, size2, [], EMPTY_ROOT, ROOT_HASHES[size2])
    with pytest.raises(ProofError, match="root1 is not the empty-tree hash"):
        verify_consistency(0, 1, [], SOME_HASH, ROOT_HASHES[1])
    with pytest.raises(ProofError, match="from the empty tree must be empty"):
        verify_consistency(0, 1, [EMPTY_ROOT], EMPTY_ROOT, ROOT_HASHES[1])
    with pytest.raises(ProofError, match="roots differ at the same size 0"):
        verify_consistency(0, 0, [], EMPTY_ROOT, SOME_HASH)


def test_consistency_wrong_length_roots_are_named() -> None:
    with pytest.raises(ProofError, match="root1 is 12 bytes, expected 32"):
        verify_consistency(0, 0, [], b"don't care 1", b"don't care 1")
    with pytest.raises(ProofError, match="root2 is 12 bytes, expected 32"):
        verify_consistency(1, 2, [n(0, 1)], ROOT_HASHES[1], b"don't care 2")
    with pytest.raises(ProofError, match=r"proof\[0\] is 31 bytes"):
        verify_consistency(1, 2, [n(0, 1)[:31]], ROOT_HASHES[1], ROOT_HASHES[2])


# --- properties over random trees ---------------------------------------------------------------


@st.composite
def trees(draw: st.DrawFn, min_size: int = 1, max_size: int = 70) -> list[bytes]:
    """Leaves with distinct data, so distinct positions never share a leaf hash."""
    size = draw(st.integers(min_size, max_size))
    salt = draw(st.binary(max_size=8))
    return [salt + i.to_bytes(4, "big") for i in range(size)]


def reference_root(leaves: Sequence[bytes]) -> bytes:
    """MTH straight from §2.1.1's recursive definition, to check the iterative one."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


@given(trees(min_size=0))
def test_iterative_root_equals_the_recursive_definition(leaves: list[bytes]) -> None:
    assert root_hash(leaves) == reference_root(leaves)


@given(trees(), st.data())
def test_every_generated_audit_path_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    size = data.draw(st.integers(1, len(leaves)))
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(leaves, index, size)
    verify_inclusion(leaf_hash(leaves[index]), index, size, proof, reference_root(leaves[:size]))


@given(trees(min_size=0), st.data())
def test_every_generated_consistency_proof_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    size2 = data.draw(st.integers(0, len(leaves)))
    size1 = data.draw(st.integers(0, size2))
    proof = consistency_proof(leaves, size1, size2)
    verify_consistency(size1, size2, proof, reference_root(leaves[:size1]), reference_root(leaves[:size2]))


Mutation = Callable[[list[bytes], st.DataObject], list[bytes]]


def flip_bit(proof: list[bytes], data: st.DataObject) -> list[bytes]:
    i = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    out = list(proof)
    changed = bytearray(proof[i])
    changed[bit // 8] ^= 1 << (bit % 8)
    out[i] = bytes(changed)
    return out


def drop_hash(proof: list[bytes], data: st.DataObject) -> list[bytes]:
    i = data.draw(st.integers(0, len(proof) - 1))
    return proof[:i] + proof[i + 1 :]


def add_hash(proof: list[bytes], data: st.DataObject) -> list[bytes]:
    i = data.draw(st.integers(0, len(proof)))
    return [*proof[:i], data.draw(st.binary(min_size=32, max_size=32)), *proof[i:]]


def duplicate_hash(proof: list[bytes], data: st.DataObject) -> list[bytes]:
    i = data.draw(st.integers(0, len(proof) - 1))
    return [*proof[: i + 1], proof[i], *proof[i + 1 :]]


def wrong_length(proof: list[bytes], data: st.DataObject) -> list[bytes]:
    i = data.draw(st.integers(0, len(proof) - 1))
    out = list(proof)
    out[i] = data.draw(st.one_of(st.binary(max_size=31), st.binary(min_size=33, max_size=64)))
    return out


MUTATIONS: list[Mutation] = [flip_bit, drop_hash, add_hash, duplicate_hash, wrong_length]


@given(trees(min_size=2), st.data(), st.sampled_from(MUTATIONS))
def test_every_mutated_audit_path_is_rejected(leaves: list[bytes], data: st.DataObject, mutate: Mutation) -> None:
    size = data.draw(st.integers(2, len(leaves)))
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(leaves, index, size)
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(leaves[index]), index, size, mutate(proof, data), reference_root(leaves[:size]))


@given(trees(), st.data())
def test_a_flipped_bit_in_the_leaf_or_root_is_rejected(leaves: list[bytes], data: st.DataObject) -> None:
    size = data.draw(st.integers(1, len(leaves)))
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(leaves, index, size)
    lh, root = leaf_hash(leaves[index]), reference_root(leaves[:size])
    with pytest.raises(ProofError):
        verify_inclusion(flip_bit([lh], data)[0], index, size, proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(lh, index, size, proof, flip_bit([root], data)[0])


@given(trees(min_size=2), st.data())
def test_a_path_is_accepted_for_another_index_or_size_only_if_it_is_that_path(
    leaves: list[bytes], data: st.DataObject
) -> None:
    """With (size, root) taken from the true tree, as from a signed checkpoint, a path cannot be reused."""
    size = data.draw(st.integers(1, len(leaves)))
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(leaves, index, size)
    other_size = data.draw(st.integers(1, len(leaves)))
    other_index = data.draw(st.integers(0, other_size - 1))
    genuine = inclusion_proof(leaves, other_index, other_size) == proof and other_index == index
    try:
        verify_inclusion(leaf_hash(leaves[index]), other_index, other_size, proof, reference_root(leaves[:other_size]))
    except ProofError:
        assert not genuine
    else:
        assert genuine


@given(trees(), st.data())
def test_a_wrong_index_at_the_same_size_is_rejected(leaves: list[bytes], data: st.DataObject) -> None:
    size = data.draw(st.integers(1, len(leaves)))
    index = data.draw(st.integers(0, size - 1))
    other = data.draw(st.integers(-3, size + 3).filter(lambda i: i != index))
    with pytest.raises(ProofError):
        verify_inclusion(
            leaf_hash(leaves[index]), other, size, inclusion_proof(leaves, index, size), reference_root(leaves[:size])
        )


@st.composite
def consistency_cases(draw: st.DrawFn) -> tuple[list[bytes], int, int]:
    """A tree and 0 < size1 < size2: the sizes where a proof is non-empty and has something to mutate."""
    leaves = draw(trees(min_size=2))
    size2 = draw(st.integers(2, len(leaves)))
    size1 = draw(st.integers(1, size2 - 1))
    return leaves, size1, size2


@given(consistency_cases(), st.data(), st.sampled_from(MUTATIONS))
def test_every_mutated_consistency_proof_is_rejected(
    case: tuple[list[bytes], int, int], data: st.DataObject, mutate: Mutation
) -> None:
    leaves, size1, size2 = case
    proof = consistency_proof(leaves, size1, size2)
    with pytest.raises(ProofError):
        verify_consistency(
            size1, size2, mutate(proof, data), reference_root(leaves[:size1]), reference_root(leaves[:size2])
        )


@given(consistency_cases(), st.data())
def test_flipped_or_swapped_roots_are_rejected(case: tuple[list[bytes], int, int], data: st.DataObject) -> None:
    leaves, size1, size2 = case
    proof = consistency_proof(leaves, size1, size2)
    root1, root2 = reference_root(leaves[:size1]), reference_root(leaves[:size2])
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, root2, root1)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, flip_bit([root1], data)[0], root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, root1, flip_bit([root2], data)[0])
    with pytest.raises(ProofError):
        verify_consistency(size2, size1, proof, root2, root1)


@given(consistency_cases(), st.data())
def test_a_consistency_proof_is_accepted_for_other_sizes_only_if_it_is_that_proof(
    case: tuple[list[bytes], int, int], data: st.DataObject
) -> None:
    """With both roots taken from the true tree, a proof between other sizes passes only if identical."""
    leaves, size1, size2 = case
    proof = consistency_proof(leaves, size1, size2)
    other2 = data.draw(st.integers(1, len(leaves)))
    other1 = data.draw(st.integers(1, other2))
    genuine = consistency_proof(leaves, other1, other2) == proof
    try:
        verify_consistency(other1, other2, proof, reference_root(leaves[:other1]), reference_root(leaves[:other2]))
    except ProofError:
        assert not genuine
    else:
        assert genuine


@settings(max_examples=25)
@given(trees(min_size=0, max_size=300))
def test_consistency_chains_through_every_intermediate_size(leaves: list[bytes]) -> None:
    roots = [reference_root(leaves[:s]) for s in range(len(leaves) + 1)]
    for size1 in range(0, len(leaves) + 1, 7):
        size2 = len(leaves)
        verify_consistency(size1, size2, consistency_proof(leaves, size1, size2), roots[size1], roots[size2])
