"""environment.json: which code, libraries and CPU kernels produced a run (pl_powerlaw.provenance)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
import torch

from pl_powerlaw.errors import InputError
from pl_powerlaw.provenance import (
    PINNED_KERNELS,
    append_environment,
    environment,
    git_state,
)


def git(*args: str, cwd) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_git_state_names_the_commit_and_changes(tmp_path):
    git("init", "-q", cwd=tmp_path)
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py", cwd=tmp_path)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one", cwd=tmp_path)
    assert git_state(tmp_path) == {"commit": git("rev-parse", "HEAD", cwd=tmp_path), "dirty": False}
    (tmp_path / "a.py").write_text("x = 2\n")
    assert git_state(tmp_path)["dirty"] is True
    (tmp_path / "b.py").write_text("")  # untracked files do not count as changes
    git("checkout", "-q", "a.py", cwd=tmp_path)
    assert git_state(tmp_path)["dirty"] is False


def test_git_state_outside_a_work_tree_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert git_state(tmp_path) == {"commit": None, "dirty": None}


def test_environment_records_the_kernels(monkeypatch):
    for name, value in PINNED_KERNELS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    entry = environment()
    assert entry["torch"] == torch.__version__
    assert entry["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert entry["torch_threads"] == torch.get_num_threads()
    assert entry["kernel_variables"] == {**PINNED_KERNELS, "OMP_NUM_THREADS": "3",
                                         "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS")}  # fmt: skip
    assert entry["pinned_kernels"] is True
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    assert environment()["pinned_kernels"] is False
    json.dumps(entry, allow_nan=False)  # a plain JSON record


def test_append_keeps_earlier_entries(tmp_path):
    path = append_environment(tmp_path / "run")
    append_environment(tmp_path / "run")
    entries = json.loads(path.read_text())
    assert len(entries) == 2 and entries[0]["time"] <= entries[1]["time"]


def test_a_foreign_file_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "environment.json"
    path.write_text('{"not": "a list"}')
    with pytest.raises(InputError, match="holds a dict: expected a JSON list"):
        append_environment(tmp_path)
    path.write_text("{broken")
    with pytest.raises(InputError, match="expected a JSON list"):
        append_environment(tmp_path)
    assert path.read_text() == "{broken"


PROBE = """
import hashlib, torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 1024), torch.nn.ReLU(),
                          torch.nn.Linear(1024, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True)
g = torch.Generator().manual_seed(1)
x, y = torch.rand(640, 1, 28, 28, generator=g), torch.randint(0, 10, (640,), generator=g)
for i in range(10):
    opt.zero_grad()
    torch.nn.functional.cross_entropy(net(x[i * 64:(i + 1) * 64]), y[i * 64:(i + 1) * 64]).backward()
    opt.step()
print(hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in net.parameters())).hexdigest())
"""


def trained_hash(threads: int) -> str:
    env = {
        **os.environ,
        **PINNED_KERNELS,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                            timeout=300, check=True)  # fmt: skip
    return result.stdout.strip()


def test_pinned_kernels_make_mlp_training_independent_of_the_thread_count():
    """docs/section3.md: in pinned mode 1, 2 and 4 threads train the same MLP weights.

    (Not so for convolutions: oneDNN's results may depend on the thread count even when pinned,
    which is why the published runs also name theirs.)
    """
    hashes = {threads: trained_hash(threads) for threads in (1, 2, 4)}
    assert len(set(hashes.values())) == 1, hashes
    assert len(hashes[1]) == len(hashlib.sha256().hexdigest())


def test_recording_does_not_initialise_cuda(monkeypatch):
    """Naming the device must not start CUDA in a run that does not use it."""
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: calls.append(a) or "GPU")
    assert environment()["cuda_device"] is None and calls == []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    assert environment()["cuda_device"] == "GPU"
