"""Configs as overlays: every experiment's effective config equals the flat config it replaced.

Reference: ``tests/data/effective_configs/<name>.yaml`` is ``--print_config`` of each experiment as
it was when every config was a full copy (commit e75cd4c). The overlays (``extends``) and the named
callback slots must give the same values. Two changes are intended: the logger's ``save_dir`` now
follows ``trainer.default_root_dir`` (``''``) instead of being fixed to ``.``, and the checkpoint
keeps one ``last.ckpt`` per run folder (``enable_version_counter: false``), since a resumed run now
continues in its own folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import CONFIGS, run_cli

from pl_powerlaw.cli import CALLBACK_SLOTS, ConfigError, config_chain, main

pytestmark = pytest.mark.filterwarnings("ignore:LightningCLI.s args parameter")
GOLDEN = Path(__file__).parent / "data" / "effective_configs"
NAMES = sorted(path.stem for path in GOLDEN.glob("*.yaml"))
INTENDED = {
    ("trainer", "logger", "init_args", "save_dir"): (".", ""),
    ("callbacks", "ModelCheckpoint", "init_args", "enable_version_counter"): (True, False),
}


def effective_config(name: str, capsys: pytest.CaptureFixture) -> dict:
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--config", str(CONFIGS / f"{name}.yaml"), "--print_config"])
    assert exit_.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


def callbacks_by_class(config: dict) -> dict[str, dict]:
    listed = list(config["trainer"].get("callbacks") or [])
    listed += [config[slot] for slot in CALLBACK_SLOTS if config.get(slot)]
    by_class = {entry["class_path"].rsplit(".", 1)[-1]: entry for entry in listed}
    assert len(by_class) == len(listed), "a callback class appears twice"
    return by_class


def assert_subset(old: object, new: object, path: tuple = ()) -> None:
    """Every value of ``old`` is in ``new`` at the same place (``new`` may have more options)."""
    if path in INTENDED:
        assert (old, new) == INTENDED[path], path
        return
    if isinstance(old, dict):
        assert isinstance(new, dict), path
        for key, value in old.items():
            assert key in new, path + (key,)
            assert_subset(value, new[key], path + (key,))
    else:
        assert old == new, f"{'.'.join(map(str, path))}: was {old!r}, now {new!r}"


@pytest.mark.parametrize("name", NAMES)
def test_overlay_gives_the_same_effective_config(name, capsys):
    old = yaml.safe_load((GOLDEN / f"{name}.yaml").read_text())
    new = effective_config(name, capsys)
    old_callbacks = callbacks_by_class(old)
    new_callbacks = callbacks_by_class(new)
    assert sorted(old_callbacks) == sorted(new_callbacks)
    for cls, entry in old_callbacks.items():
        assert_subset(entry, new_callbacks[cls], ("callbacks", cls))
    old["trainer"].pop("callbacks")
    new["trainer"].pop("callbacks")
    assert_subset(old, new)


def test_quick_configs_hold_only_their_differences():
    for path in CONFIGS.glob("*_quick.yaml"):
        body = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
        assert body[0].startswith("extends:"), path.name
        assert len(body) <= 20, f"{path.name} holds {len(body)} lines: more than its differences"


def test_a_cycle_or_a_missing_base_is_a_clear_error(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: [b.yaml]\n")
    (tmp_path / "b.yaml").write_text("extends: [a.yaml]\n")
    (tmp_path / "c.yaml").write_text("extends: [nowhere.yaml]\n")
    with pytest.raises(ConfigError, match="cycle"):
        config_chain(tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match=r"nowhere.yaml .*not found"):
        config_chain(tmp_path / "c.yaml")
    result = run_cli("fit", "--config", str(tmp_path / "c.yaml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "nowhere.yaml" in result.stderr and "Traceback" not in result.stderr


def test_a_callback_option_is_overridden_by_its_slot(capsys):
    with pytest.raises(SystemExit):
        main(
            [
                "fit",
                "--config",
                str(CONFIGS / "mlp_mnist_quick.yaml"),
                "--pruning.init_args.amount",
                "0.5",
                "--degrees.init_args.n_boot",
                "7",
                "--print_config",
            ]
        )
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["pruning"]["init_args"]["amount"] == 0.5
    assert config["pruning"]["init_args"]["prune_epochs"] == [3]  # the rest stays
    assert config["degrees"]["init_args"]["n_boot"] == 7
