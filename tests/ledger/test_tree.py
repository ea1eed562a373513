"""The stored-tree planner (ledger.tree): which complete subtrees a root or proof needs, and how an
append grows them — checked against the RFC 9162 reference on in-memory hashes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger import consistency_proof, inclusion_proof, leaf_hash, root_from_hashes, root_hash
from ledger.tree import Frontier, assemble, consistency_ranges, fold, inclusion_ranges, keys_for, range_nodes

sizes = st.integers(min_value=1, max_value=300)


def grow(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every node the store would insert, from appending the leaves one by one."""
    frontier = Frontier(0, [])
    nodes: dict[tuple[int, int], bytes] = {}
    for data in leaves:
        for level, index, digest in frontier.append(leaf_hash(data)):
            assert (level, index) not in nodes, "a node is written twice"
            nodes[(level, index)] = digest
    return nodes


@given(sizes)
def test_every_node_is_the_root_of_its_complete_subtree(n: int) -> None:
    leaves = [b"leaf %d" % i for i in range(n)]
    nodes = grow(leaves)
    assert len(nodes) == 2 * n - bin(n).count("1")  # one row per complete subtree
    for (level, index), digest in nodes.items():
        assert digest == root_hash(leaves[index << level : (index + 1) << level])


@given(sizes)
def test_the_frontier_holds_the_root_and_reloads_from_stored_nodes(n: int) -> None:
    leaves = [b"x%d" % i for i in range(n)]
    nodes = grow(leaves)
    reloaded = Frontier(n, [nodes[k] for k in range_nodes(0, n)])
    assert reloaded.root() == root_from_hashes([leaf_hash(d) for d in leaves])
    extra = reloaded.append(leaf_hash(b"next"))
    assert extra[-1][0] == max(level for level, _, _ in extra)
    assert reloaded.root() == root_hash([*leaves, b"next"])


@given(st.data(), sizes)
def test_planned_proofs_equal_the_reference_and_need_logarithmically_many_nodes(data: st.DataObject, n: int) -> None:
    leaves = [b"%d" % i for i in range(n)]
    nodes = grow(leaves)
    index = data.draw(st.integers(0, n - 1))
    size1 = data.draw(st.integers(0, n))
    for ranges, reference in (
        (inclusion_ranges(index, n), inclusion_proof(leaves, index, n)),
        (consistency_ranges(size1, n), consistency_proof(leaves, size1, n)),
    ):
        assert assemble(ranges, nodes) == reference
        assert len(keys_for(ranges)) <= 2 * n.bit_length() + 1


def test_the_empty_range_folds_to_the_empty_tree_hash() -> None:
    assert range_nodes(0, 0) == []
    assert fold([]) == root_hash([])
    assert range_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]
