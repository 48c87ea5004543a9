"""Preferential attachment between two events, the CCDF trajectory figure, the layer rules.

The reference of the change analysis is a 3-2-2 chain counted by hand: the degrees at t1, the
connection added and the one removed between t1 and t2.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pl_powerlaw.analysis.preferential import analyze_change, change_record
from pl_powerlaw.analysis.publish import publish_trajectory, trajectory_moments
from pl_powerlaw.connectivity import trace_graph
from pl_powerlaw.nn import MaskedLinear
from pl_powerlaw.plotting import empirical_ccdf, pick_moments


def chain() -> nn.Module:
    return nn.Sequential(MaskedLinear(3, 2), nn.ReLU(), MaskedLinear(2, 2), MaskedLinear(2, 1))


def test_change_between_two_events_by_hand():
    graph = trace_graph(chain(), (3,))
    before = {
        "0": torch.tensor([[1, 1, 0], [0, 0, 1]], dtype=torch.bool),
        "2": torch.tensor([[1, 0], [1, 1]], dtype=torch.bool),
    }
    after = {
        "0": torch.tensor([[1, 1, 1], [0, 0, 1]], dtype=torch.bool),  # (0, 2) added
        "2": torch.tensor([[1, 0], [0, 1]], dtype=torch.bool),  # (1, 0) removed
    }
    # degrees at t1 by hand: input [1, 1, 1]; node layer "0": rows of "0" [2, 1] plus columns
    # of "2" [2, 1] = [4, 2]; node layer "2": rows of "2" [1, 2]
    change = analyze_change(graph, before, {k: v.float() for k, v in after.items()}, n_bins=8)
    assert (change.n_added, change.n_removed) == (1, 1)
    added = {inc.name: inc for inc in change.added.increments}
    removed = {inc.name: inc for inc in change.removed.increments}

    def by_degree(inc):
        filled = inc.n_nodes > 0
        return sorted(zip(inc.k_mean[filled].tolist(), inc.delta_k[filled].tolist(), strict=True))

    assert by_degree(added["input"]) == [(1.0, 1 / 3)]  # one of the three degree-1 pixels
    assert by_degree(added["0"]) == [(2.0, 0.0), (4.0, 1.0)]  # the degree-4 node got it
    assert by_degree(added["2"]) == [(1.0, 0.0), (2.0, 0.0)]
    assert by_degree(removed["0"]) == [(2.0, 0.0), (4.0, 1.0)]  # the degree-4 node lost one
    assert by_degree(removed["2"]) == [(1.0, 0.0), (2.0, 1.0)]
    kernels = {(k.lower, k.upper): k for k in change.added.kernels}
    assert int(kernels[("input", "0")].new_links.sum()) == 1
    assert int(kernels[("0", "2")].new_links.sum()) == 0
    removed_kernels = {(k.lower, k.upper): k for k in change.removed.kernels}
    assert int(removed_kernels[("0", "2")].new_links.sum()) == 1
    record = change_record({"event": "a"}, {"event": "b"}, 8, change)
    assert record["from"] == {"event": "a"} and record["n_added"] == 1
    assert set(record) >= {"added", "removed", "n_bins", "to"}


def test_no_change_gives_empty_results():
    graph = trace_graph(chain(), (3,))
    masks = {"0": torch.ones(2, 3, dtype=torch.bool), "2": torch.ones(2, 2, dtype=torch.bool)}
    change = analyze_change(graph, masks, masks)
    assert (change.n_added, change.n_removed) == (0, 0)
    assert all(np.nansum(inc.delta_k) == 0 for inc in change.added.increments)


def test_trajectory_moments_and_figure(tmp_path):
    assert pick_moments(10, 4) == [0, 3, 6, 9] and pick_moments(3, 6) == [0, 1, 2]
    x, p = empirical_ccdf([0, 1, 2, 2, 5])
    assert x.tolist() == [1, 2, 5] and np.allclose(p, [0.8, 0.6, 0.2])
    records = [
        {
            "event": f"epoch{e}",
            "epoch": e,
            "global_step": 10 * e,
            "layers": [{"name": "fc1", "degrees": list(range(1, 20 + e)), "fit": {"alpha": 2.0}}],
        }
        for e in range(8)
    ]
    records.append({**records[3], "event": "retrain1_start"})  # after a change at one step
    records.append({**records[7], "event": "fit_end"})  # the same net as epoch7: drawn once
    chosen = trajectory_moments(records, most=4)
    assert [r["event"] for r in chosen][0] == "epoch0" and chosen[-1]["event"] == "epoch7"
    ordered = trajectory_moments(records, most=20)
    events = [r["event"] for r in ordered]
    assert events.index("epoch3") + 1 == events.index("retrain1_start")
    assert len(events) == 9 and events.count("fit_end") + events.count("epoch7") == 1
    path = publish_trajectory(records, path=tmp_path / "t.png", most=4)
    assert path is not None and path.stat().st_size > 1000


def test_dynamic_numerics_know_no_lightning():
    import subprocess
    import sys

    code = (
        "import sys, pl_powerlaw.dynamic, pl_powerlaw.dynamic.step; "
        "print(any(m.split('.')[0] == 'lightning' for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
