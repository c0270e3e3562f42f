"""Tests for lps.data.graphs: EXP / GRAPH8c loading and dense graph collation."""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
from collections import Counter

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader
from torch_geometric.data import Data

from lps.data.graphs import (
    EXP_NUM_GRAPHS,
    EXP_SHA256,
    EXP_SPLIT,
    GRAPH8C_NUM_GRAPHS,
    GRAPH8C_SHA256,
    dense_graph_batch,
    exp_split,
    load_exp,
    load_graph8c,
    make_dense_collate,
    packaged_file,
    verify_checksum,
)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def exp() -> list[Data]:
    return load_exp()


@pytest.fixture(scope="module")
def graph8c() -> list[Data]:
    return load_graph8c()


def _edge_set(edge_index: torch.Tensor) -> set[tuple[int, int]]:
    return {(int(u), int(v)) for u, v in edge_index.t().tolist()}


def _to_nx(data: Data) -> nx.Graph:
    g = nx.Graph()
    feats = data.x[:, 0].tolist()
    g.add_nodes_from((i, {"f": str(int(f))}) for i, f in enumerate(feats))
    g.add_edges_from(data.edge_index.t().tolist())
    return g


def _graph(num_nodes: int, edges: list[tuple[int, int]], **kwargs) -> Data:
    ei = torch.tensor(edges, dtype=torch.long).reshape(-1, 2).t().contiguous()
    return Data(
        x=torch.arange(num_nodes, dtype=torch.float32).unsqueeze(-1) + 1, edge_index=ei, **kwargs
    )


def _write_exp(path, items) -> None:
    path.write_bytes(gzip.compress(json.dumps(items).encode()))


# --------------------------------------------------------------------------- checksums


def test_packaged_files_match_published_digests():
    for name, digest in [("exp.json.gz", EXP_SHA256), ("graph8c.g6", GRAPH8C_SHA256)]:
        data = packaged_file(name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest
        verify_checksum(packaged_file(name), digest)


def test_checksum_error_on_corrupted_copy(tmp_path):
    raw = bytearray(packaged_file("exp.json.gz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad = tmp_path / "exp_corrupt.json.gz"
    bad.write_bytes(bytes(raw))
    seen = hashlib.sha256(bytes(raw)).hexdigest()
    for call in (lambda: verify_checksum(bad, EXP_SHA256), lambda: load_exp(bad)):
        with pytest.raises(ValueError) as info:
            call()
        msg = str(info.value)
        assert "exp_corrupt.json.gz" in msg
        assert EXP_SHA256 in msg
        assert seen in msg


def test_graph8c_checksum_error_on_truncated_copy(tmp_path):
    lines = packaged_file("graph8c.g6").read_bytes().splitlines(keepends=True)
    bad = tmp_path / "g8.g6"
    bad.write_bytes(b"".join(lines[:100]))
    with pytest.raises(ValueError, match=f"g8.g6: expected sha256 {GRAPH8C_SHA256}"):
        load_graph8c(bad)
    first = load_graph8c(bad, verify=False)
    assert len(first) == 100 and all(g.num_nodes == 8 for g in first)


def test_custom_exp_file_needs_verify_false(tmp_path):
    path = tmp_path / "tiny.json.gz"
    _write_exp(path, [{"x": [[0], [1]], "edge_index": [[0, 1], [1, 0]], "y": 1}])
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_exp(path)
    (g,) = load_exp(path, verify=False)
    assert g.x.dtype == torch.float32 and g.x.shape == (2, 1)
    assert g.y.tolist() == [1] and g.pair_id.tolist() == [0]


def test_exp_edge_index_out_of_range_is_rejected(tmp_path):
    path = tmp_path / "bad_edges.json.gz"
    good = {"x": [[0], [1]], "edge_index": [[0, 1], [1, 0]], "y": 0}
    bad = {"x": [[0], [1]], "edge_index": [[0, 2], [2, 0]], "y": 1}
    _write_exp(path, [good, bad])
    with pytest.raises(ValueError, match=r"graph 1: edge index out of range \[0, 2\)"):
        load_exp(path, verify=False)


# --------------------------------------------------------------------------- EXP


def test_exp_counts_labels_and_dtypes(exp):
    assert len(exp) == EXP_NUM_GRAPHS == 1200
    assert Counter(int(g.y) for g in exp) == {0: 600, 1: 600}
    for i, g in enumerate(exp):
        assert g.x.dtype == torch.float32 and g.x.dim() == 2 and g.x.size(1) == 1
        assert set(g.x.unique().tolist()) <= {0.0, 1.0}
        assert g.edge_index.dtype == torch.long and g.edge_index.size(0) == 2
        assert g.y.dtype == torch.long and g.y.shape == (1,)
        assert int(g.pair_id) == i // 2


def test_exp_node_counts_and_symmetry(exp):
    for g in exp:
        assert 32 <= g.num_nodes <= 64
        assert int(g.edge_index.max()) < g.num_nodes
        edges = _edge_set(g.edge_index)
        assert edges == {(v, u) for u, v in edges}


def test_exp_pairs_are_1wl_equivalent(exp):
    hashes = [nx.weisfeiler_lehman_graph_hash(_to_nx(g), node_attr="f") for g in exp]
    for i in range(EXP_NUM_GRAPHS // 2):
        a, b = exp[2 * i], exp[2 * i + 1]
        assert a.num_nodes == b.num_nodes
        deg_a = sorted(Counter(a.edge_index[0].tolist()).values())
        deg_b = sorted(Counter(b.edge_index[0].tolist()).values())
        assert deg_a == deg_b
        assert hashes[2 * i] == hashes[2 * i + 1]
        assert int(a.y) != int(b.y)
    # ...yet a few pairs checked exactly are not isomorphic.
    for i in range(3):
        ga, gb = _to_nx(exp[2 * i]), _to_nx(exp[2 * i + 1])
        assert not nx.is_isomorphic(ga, gb, node_match=lambda p, q: p["f"] == q["f"])


def test_exp_split(exp):
    split = exp_split(exp)
    assert {k: len(v) for k, v in split.items()} == {"train": 800, "val": 200, "test": 200}
    ids = {k: {id(g) for g in v} for k, v in split.items()}
    assert not ids["train"] & ids["val"]
    assert not ids["train"] & ids["test"]
    assert not ids["val"] & ids["test"]
    assert len(ids["train"] | ids["val"] | ids["test"]) == EXP_NUM_GRAPHS
    assert split["val"][0] is exp[0] and split["test"][0] is exp[200]
    assert split["train"][0] is exp[400] and split["train"][-1] is exp[1199]
    assert EXP_SPLIT["val"] == range(0, 200) and EXP_SPLIT["test"] == range(200, 400)
    for part in split.values():  # each part stays label balanced (pairs stay together)
        assert sum(int(g.y) for g in part) * 2 == len(part)
    with pytest.raises(ValueError, match="1200"):
        exp_split(exp[:10])


# --------------------------------------------------------------------------- GRAPH8c


def test_graph8c(graph8c):
    assert len(graph8c) == GRAPH8C_NUM_GRAPHS == 11117
    edge_sets = set()
    for g in graph8c:
        assert g.num_nodes == 8
        assert g.x.dtype == torch.float32 and torch.equal(g.x, torch.ones(8, 1))
        assert g.edge_index.dtype == torch.long
        edges = _edge_set(g.edge_index)
        assert edges == {(v, u) for u, v in edges}
        assert all(u != v for u, v in edges)
        assert g.edge_index.size(1) == len(edges)  # no duplicates
        nxg = nx.Graph()
        nxg.add_nodes_from(range(8))
        nxg.add_edges_from(edges)
        assert nx.is_connected(nxg)
        edge_sets.add(frozenset(edges))
    assert len(edge_sets) == GRAPH8C_NUM_GRAPHS
    assert min(len(s) for s in edge_sets) == 2 * 7  # trees
    assert max(len(s) for s in edge_sets) == 2 * 28  # complete graph


# --------------------------------------------------------------------------- dense batch


def _check_round_trip(graphs, out, n_max):
    b_size = len(graphs)
    assert out["x"].shape[:2] == (b_size, n_max)
    assert out["adj"].shape[:3] == (b_size, n_max, n_max)
    assert out["mask"].shape == (b_size, n_max) and out["mask"].dtype == torch.bool
    assert out["adj"].dtype == torch.float32 and out["edge_index"].dtype == torch.long
    flat = out["edge_index"]
    assert flat.size(1) == sum(g.edge_index.size(1) for g in graphs)
    assert out["mask"].reshape(-1)[flat].all()  # only real nodes
    assert torch.equal(flat[0] // n_max, flat[1] // n_max)  # never across graphs
    for b, g in enumerate(graphs):
        n = g.num_nodes
        assert out["mask"][b].sum() == n and out["mask"][b, :n].all()
        assert torch.equal(out["x"][b, :n], g.x)
        assert not out["x"][b, n:].any()
        adj = out["adj"][b, :, :, 0]
        assert _edge_set(adj.nonzero().t()) == _edge_set(g.edge_index)
        assert set(adj.unique().tolist()) <= {0.0, 1.0}
        in_graph = flat[:, flat[0] // n_max == b] - b * n_max
        assert _edge_set(in_graph) == _edge_set(g.edge_index)


def test_dense_graph_batch_round_trip(exp, graph8c):
    graphs = [exp[0], exp[1], exp[7], exp[500], exp[1199]]
    out = dense_graph_batch(graphs, 64)
    assert out["x"].shape == (5, 64, 1)
    assert out["adj"].shape == (5, 64, 64, 1)
    _check_round_trip(graphs, out, 64)
    small = graph8c[:3] + graph8c[-2:]
    out = dense_graph_batch(small, 8)
    assert out["adj"].shape == (5, 8, 8, 1) and out["mask"].all()
    _check_round_trip(small, out, 8)


def test_mixed_attributes_error(exp, graph8c):
    with pytest.raises(ValueError, match="graph 1 has attributes"):
        dense_graph_batch([exp[0], graph8c[0]], 64)


def test_dense_graph_batch_y_and_pair_id(exp):
    out = dense_graph_batch(exp[:6], 64)
    assert out["y"].shape == (6,)
    assert out["y"].tolist() == [int(g.y) for g in exp[:6]]


def test_too_large_graph_error(exp):
    small = _graph(3, [(0, 1), (1, 0)])
    big = exp[0]
    with pytest.raises(ValueError) as info:
        dense_graph_batch([small, big], 40)
    msg = str(info.value)
    assert "graph 1" in msg
    assert f"{big.num_nodes} nodes" in msg
    assert "max_num_nodes=40" in msg


def test_no_edge_and_single_node_graphs():
    graphs = [_graph(1, []), _graph(4, []), _graph(2, [(0, 1), (1, 0)])]
    out = dense_graph_batch(graphs, 5)
    assert out["edge_index"].shape == (2, 2)
    assert not out["adj"][:2].any()
    assert out["mask"].sum(1).tolist() == [1, 4, 2]
    assert out["edge_index"].tolist() == [[10, 11], [11, 10]]
    _check_round_trip(graphs, out, 5)
    only = dense_graph_batch([_graph(1, [])], 1)
    assert only["x"].shape == (1, 1, 1) and only["adj"].shape == (1, 1, 1, 1)
    assert only["edge_index"].shape == (2, 0) and only["mask"].tolist() == [[True]]


def test_duplicate_edges_clamp_and_self_loops():
    g = _graph(3, [(0, 1), (0, 1), (0, 1), (1, 0), (2, 2), (2, 2)])
    out = dense_graph_batch([g], 4)
    adj = out["adj"][0, :, :, 0]
    expected = torch.zeros(4, 4)
    expected[0, 1] = expected[1, 0] = expected[2, 2] = 1.0
    assert torch.equal(adj, expected)
    assert out["edge_index"].size(1) == 6  # edges are passed through, not deduplicated


def test_edge_attr_channels():
    g0 = _graph(2, [(0, 1), (1, 0)], edge_attr=torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    g1 = _graph(
        3, [(1, 2), (1, 2), (2, 1)], edge_attr=torch.tensor([[1.0, 0.0], [3.0, 0.0], [5.0, 6.0]])
    )
    out = dense_graph_batch([g0, g1], 3)
    assert out["adj"].shape == (2, 3, 3, 3)
    assert out["adj"][0, 0, 1].tolist() == [1.0, 1.0, 2.0]
    assert out["adj"][0, 1, 0].tolist() == [1.0, 3.0, 4.0]
    assert out["adj"][1, 1, 2].tolist() == [1.0, 2.0, 0.0]  # duplicates: adjacency 1, mean
    assert out["adj"][1, 2, 1].tolist() == [1.0, 5.0, 6.0]
    assert not out["adj"][1, 0].any()


def test_edge_attr_width_mismatch_and_mixed_presence():
    g0 = _graph(2, [(0, 1), (1, 0)], edge_attr=torch.ones(2, 2))
    g1 = _graph(2, [(0, 1), (1, 0)], edge_attr=torch.ones(2, 3))
    with pytest.raises(
        ValueError, match=r"graph 1 has edge_attr of shape \(E, 3\), graph 0 has \(E, 2\)"
    ):
        dense_graph_batch([g0, g1], 4)
    with pytest.raises(ValueError, match="graph 1 lacks edge_attr"):
        dense_graph_batch([g0, _graph(2, [(0, 1)])], 4)


def test_bad_edge_index_in_batch_is_rejected():
    g = _graph(2, [(0, 1), (1, 0)])
    g.edge_index = torch.tensor([[0, 5], [5, 0]])
    with pytest.raises(ValueError, match="graph 0: edge index out of range"):
        dense_graph_batch([g], 8)
    with pytest.raises(ValueError, match="at least one graph"):
        dense_graph_batch([], 8)


def test_make_dense_collate_with_dataloader(exp):
    collate = pickle.loads(pickle.dumps(make_dense_collate(64)))
    loader = DataLoader(exp_split(exp)["val"], batch_size=8, shuffle=False, collate_fn=collate)
    batches = list(loader)
    assert len(batches) == 25
    first = batches[0]
    ref = dense_graph_batch(exp[:8], 64)
    assert first.keys() == ref.keys()
    for key in ref:
        assert torch.equal(first[key], ref[key])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.integers(1, 6).flatmap(
            lambda n: st.tuples(
                st.just(n),
                st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=12),
            )
        ),
        min_size=1,
        max_size=4,
    )
)
def test_dense_round_trip_random_graphs(spec):
    graphs = [_graph(n, edges) for n, edges in spec]
    out = dense_graph_batch(graphs, 7)
    _check_round_trip(graphs, out, 7)
