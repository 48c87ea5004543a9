"""docs/section3.md's quick-config tables are what the code gives today (real MNIST, slow).

``python -m pl_powerlaw fit --config configs/{mlp,lenet}_mnist_quick.yaml`` is rerun and every
number of the page's "MLP quick" and "LeNet quick" tables and accuracy line is read back from the
run's records: the dense and
sparse test accuracies (pruning.json), and per layer alpha, xmin, xmax, the nodes in range, KS,
the bootstrap p, the likelihood ratios, the random-pruning null's tests and spreads, and the
verdict (degrees/fit_end.json). A change that moves a published number fails here, so the page
cannot drift from the code. The numbers are those printed on the page (rounded as printed).

The runs behind the page were made with the CPU kernels pinned and 2 threads, and so are the
reruns here (``published.rerun``): without that, another CPU or thread count trains
other weights (docs/section3.md, "Reproducing a number exactly").
"""

from __future__ import annotations

import json

import pytest
from conftest import CONFIGS
from published import close, layers_of, rerun

pytestmark = pytest.mark.slow

#: layer -> (alpha, xmin, xmax, n_tail, KS, p, R power law, R exponential, R log-normal,
#:           dispersion, dispersion null mean, Gini, Gini null mean, verdict): the page's table
MLP_QUICK = {
    "input": (1.144, 28, 201, 779, 0.0692, 0.000, 190.5, -5.6, -3.8, 22.67, 0.91, 0.296, 0.059,
              "TPL rejected"),
    "fc1": (0.196, 121, 180, 614, 0.0234, 0.140, 66.6, -0.0, -0.7, 8.58, 0.94, 0.139, 0.045,
            "TPL not rejected, not heavy-tailed"),
    "fc2": (-0.689, 60, 95, 656, 0.0255, 0.035, 94.6, 0.1, -0.2, 4.34, 0.92, 0.130, 0.060,
            "TPL rejected"),
}  # fmt: skip

NULL_KS_P = {"input": "1.4e-135", "fc1": "1.4e-60", "fc2": "7.6e-35"}  # as printed

#: the LeNet quick table (its one-node input layer is flagged and not in the table)
LENET_QUICK = {
    "conv1": (-1.639, 9472, 23872, 25, 0.1424, 0.175, 21.0, -0.2, 0.0, 2713.75, 154.32, 0.231,
              0.054, "TPL not rejected, not heavy-tailed"),
    "conv2": (-1.237, 3825, 10300, 23, 0.0825, 0.895, 9.7, -0.1, 0.0, 2130.80, 55.38, 0.314, 0.050,
              "TPL not rejected, not heavy-tailed"),
    "fc1": (-1.205, 11, 54, 208, 0.0194, 0.930, 181.9, 0.8, 0.0, 4.98, 0.91, 0.197, 0.084,
            "TPL not rejected, not heavy-tailed"),
}  # fmt: skip

LENET_NULL_KS_P = {"conv1": "8.5e-06", "conv2": "5.6e-07", "fc1": "8.6e-14"}

#: config -> (dense and sparse test accuracy in %, the table, the null KS p-values as printed)
TABLES = {
    "mlp_mnist_quick.yaml": ((96.81, 96.66), MLP_QUICK, NULL_KS_P),
    "lenet_mnist_quick.yaml": ((98.76, 98.81), LENET_QUICK, LENET_NULL_KS_P),
}


@pytest.mark.parametrize("config", sorted(TABLES))
def test_quick_run_reproduces_the_published_table(tmp_path, mnist_root, config):
    (dense, sparse), table, null_ks_p = TABLES[config]
    run = rerun(config, cwd=tmp_path, data_root=mnist_root)
    accuracy = json.loads((run / "pruning.json").read_text())["accuracy"]
    assert close(100 * accuracy["test_dense/acc"], dense, 2)
    assert close(100 * accuracy["test_sparse/acc"], sparse, 2)
    layers = layers_of(run / "degrees/fit_end.json")
    assert set(table) <= set(layers) and len(layers) == len(table) + (config.startswith("lenet"))
    for name, expected in table.items():
        alpha, xmin, xmax, n_tail, ks, p, r_pl, r_exp, r_ln, disp, disp0, gini, gini0, verdict = (
            expected
        )
        layer = layers[name]
        fit, alternatives, null = layer["fit"], layer["alternatives"], layer["null"]
        assert close(fit["alpha"], alpha, 3), (name, fit["alpha"])
        assert (fit["xmin"], fit["xmax"], fit["n_tail"]) == (xmin, xmax, n_tail), name
        assert close(fit["ks"], ks, 4), (name, fit["ks"])
        assert close(fit["p_value"], p, 3), (name, fit["p_value"])
        for key, printed in (("power_law", r_pl), ("exponential", r_exp), ("lognormal", r_ln)):
            assert close(alternatives[key]["loglik_ratio"], printed, 1), (
                name,
                key,
                alternatives[key],
            )
        assert close(null["dispersion"]["value"], disp, 2) and close(
            null["dispersion"]["null_mean"], disp0, 2
        ), name
        assert close(null["gini"]["value"], gini, 3) and close(
            null["gini"]["null_mean"], gini0, 3
        ), name
        assert f"{null['ks_p_value']:.1e}" == null_ks_p[name], (name, null["ks_p_value"])
        assert null["ad_p_value"] == 0.001 and null["ad_p_clipped"], name  # printed "0.001"
        assert layer["verdict"]["label"] == verdict, (name, layer["verdict"])


@pytest.mark.parametrize("config", sorted(TABLES))
def test_the_page_prints_these_numbers(config):
    """The constants above are the page's rows: the fit columns of each layer, as printed."""
    text = (CONFIGS.parent / "docs" / "section3.md").read_text()
    section = text[text.index("## The quick configs, with the fair tests") :]
    section = section[: section.index("## Reproducing a number exactly")]
    (dense, sparse), table, _ = TABLES[config]
    net = "MLP" if config.startswith("mlp") else "LeNet"
    assert f"{net} quick {dense:.2f} dense, {sparse:.2f} sparse" in section
    block = section[section.index(f"**{net} quick**") :]
    for name, (alpha, xmin, xmax, n_tail, ks, p, *_, verdict) in table.items():
        n_nodes = {"input": 784, "conv1": 32, "conv2": 32}.get(
            name, 256 if net == "LeNet" else 1024
        )
        row = f"| {name} | {n_nodes} | {alpha:.3f} | {xmin} | {xmax} | {n_tail}/{n_nodes} | {ks:.4f} | {p:.3f} |"
        assert row in block, row
        line = block[block.index(row) :].splitlines()[0]
        assert line.endswith(f"| {verdict} |"), line
