"""Ties in the learned scores are broken at random, never by the input order.

With zero noise (canonicalization), 1-WL-equivalent nodes get identical scores. Breaking
those ties by index would let a model read the data set's node order: on EXP-classify that
leak gave MLP-canonical 100% validation accuracy, against 50% with honest tie-breaks.
"""

import torch

import lps


def _cycle(n: int) -> dict[str, torch.Tensor]:
    idx = torch.arange(n)
    adj = torch.zeros(1, n, n, 1)
    adj[0, idx, (idx + 1) % n, 0] = 1
    adj[0, (idx + 1) % n, idx, 0] = 1
    return {"x": torch.ones(1, n, 1), "adj": adj}


class _FirstNode(torch.nn.Module):
    """Returns the one-hot input index of the node put first in the canonical order."""

    def forward(self, c, ids, adj, mask):
        return ids[:, 0]


def test_canonical_sampler_breaks_ties_uniformly():
    torch.manual_seed(0)
    n = 8
    fields = _cycle(n)
    fields = {"c": fields["x"], "ids": torch.eye(n).unsqueeze(0), "adj": fields["adj"]}
    # The sampler sees only the constant feature c: on a cycle every node ties.
    model = lps.symmetrize(
        _FirstNode(),
        "S_n",
        {"c": "node", "ids": "node", "adj": "pair"},
        "invariant",
        "canonical",
        sampler_args={"in_dim": 1, "node_fields": ["c"], "hidden": 16, "layers": 2},
    ).eval()
    # 400 independent draws in one call: a batch of 400 copies of the graph, each with its
    # own tie-break noise.
    batch = {k: v.expand(400, *v.shape[1:]) for k, v in fields.items()}
    with torch.no_grad():
        firsts = model(**batch).prediction.argmax(dim=1)
    assert firsts.shape == (400,)
    counts = torch.bincount(firsts, minlength=n).float()
    # Every node of the (vertex-transitive) cycle is put first about 1/8 of the time.
    assert (counts > 0).all(), counts
    chi2 = ((counts - 50.0) ** 2 / 50.0).sum()
    assert chi2 < 30.0, counts  # 7 degrees of freedom: p ~ 1e-4 at 30


def test_hard_permutation_ignores_index_order_for_exact_ties():
    from lps.samplers import scores_to_perm

    scores = torch.zeros(200, 5)
    tiebreak = torch.rand(200, 5)
    perm, _ = scores_to_perm(scores, None, tiebreak=tiebreak)
    assert len({tuple(p.tolist()) for p in perm.index}) > 50
    torch.testing.assert_close(perm.index, torch.argsort(tiebreak, dim=1))
