"""Atomic writes of the analysis records: permissions of a normal new file, nothing half-written."""

from __future__ import annotations

import json
import os

import pytest

from pl_powerlaw.atomic import write_json_atomic


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_record_gets_the_permissions_of_a_normal_new_file(tmp_path):
    path = write_json_atomic(tmp_path / "degrees" / "fit_end.json", {"event": "fit_end"})
    assert json.loads(path.read_text()) == {"event": "fit_end"}
    assert path.stat().st_mode & 0o777 == 0o666 & ~current_umask()  # not mkstemp's 0600
    assert [p.name for p in path.parent.iterdir()] == ["fit_end.json"]


def test_a_failed_write_keeps_the_old_record_and_leaves_no_temporary_file(tmp_path):
    path = write_json_atomic(tmp_path / "r.json", {"ok": 1})
    with pytest.raises(ValueError, match="Out of range float values"):
        write_json_atomic(path, {"ok": float("nan")})  # allow_nan=False: refused mid-write
    assert json.loads(path.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
