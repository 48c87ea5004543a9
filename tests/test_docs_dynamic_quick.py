"""docs/dynamic.md's seed-0 quick runs are what the code gives today (real MNIST, slow).

The five 5-epoch runs at 90% sparsity and seed 0 behind the page are rerun as they were made
(pinned kernels, 2 threads; about 1-2 minutes each): the quick configs of SET, RigL and
preferential regrowth unchanged (with their degree and attachment analyses), gradual magnitude
pruning and one-shot Han pruning without analyses. Each run's test accuracy must be the first of
its row in the page's 5-epoch accuracy table, and for the three regrowing methods every row of the
page's attachment table is required, formatted from the run's ``preferential_attachment.json``.
The other seeds and the 98% runs are not rerun here (30 runs); the page says how they were made.
"""

from __future__ import annotations

import json

import pytest
from published import attachment_rows, page_section, rerun

pytestmark = pytest.mark.slow

NO_ANALYSES = ("--degrees=null", "--attachment=null")

#: method -> (config, extra arguments, the method's label in the accuracy table, the heading of its
#: attachment table or None)
RUNS = {
    "han": (
        "mlp_mnist_quick.yaml",
        ("--pruning.init_args.amount=0.9", "--degrees=null"),
        "one-shot Han (3 dense + 2 retrain)",
        None,
    ),
    "gmp": ("gmp_mnist_quick.yaml", NO_ANALYSES, "gradual (GMP)", None),
    "set": ("set_mnist_quick.yaml", (), "SET", "SET (random regrowth):"),
    "rigl": ("rigl_mnist_quick.yaml", (), "RigL", "RigL:"),
    "preferential": (
        "pa_regrow_mnist_quick.yaml",
        (),
        "preferential regrowth (beta=1)",
        "Preferential regrowth (beta = 1):",
    ),
}

RECORDS = {"han": "pruning.json", "gmp": "gradual_pruning.json"}  # where the test accuracy is


@pytest.mark.parametrize("method", sorted(RUNS))
def test_seed_0_quick_run_reproduces_the_published_numbers(tmp_path, mnist_root, method):
    config, extra, label, heading = RUNS[method]
    run = rerun(config, *extra, cwd=tmp_path, data_root=mnist_root)
    record = RECORDS.get(method, "dynamic_sparse.json")
    accuracy = json.loads((run / record).read_text())["accuracy"]["test_sparse/acc"]
    table = page_section(
        "dynamic.md", "### Test accuracy, 5 epochs", "### Test accuracy, 30 epochs"
    )
    row = f"| 90% | {label} | 0,1,2 | {accuracy:.4f}, "
    assert row in table, row

    assert (run / "preferential_attachment.json").exists() == (heading is not None)
    if heading is None:
        return
    changes = json.loads((run / "preferential_attachment.json").read_text())["changes"]
    block = page_section("dynamic.md", heading).split("\n\n")[1]  # the table under the heading
    rows = attachment_rows(changes)
    assert rows and len(rows) == len([line for line in block.splitlines() if "->" in line])
    for row in rows:
        assert row in block, row
