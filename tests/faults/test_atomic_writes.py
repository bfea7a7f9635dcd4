"""Item 4/5 of issue 12: temp files of a killed write are recognisable, cleaned, never offered as study pictures,
and the renamed files have the permissions the umask allows (a lab group can read them)."""

from __future__ import annotations

import os
import stat

import pytest
from PIL import Image

from instdiff.core.errors import InputError
from instdiff.core.io import atomic_dir, atomic_path, clean_stale_temps, is_temp, write_json
from instdiff.raters.images import discover_images

from tests.faults.checks import assert_nothing_half_written


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_files_and_folders_follow_the_umask(tmp_path, umask_022):
    write_json(tmp_path / "m.json", {"a": 1})
    with atomic_dir(tmp_path / "d") as d:
        (d / "x").write_text("x")
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
    assert_nothing_half_written(tmp_path)


def test_a_failed_write_leaves_nothing_and_a_killed_one_is_cleaned(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "a.png") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert not (tmp_path / "a.png").exists()
    assert_nothing_half_written(tmp_path)
    # A kill -9 skips the cleanup: simulate what it leaves (the same names atomic_path makes).
    with atomic_path(tmp_path / "b.png") as tmp:
        stale = tmp_path / tmp.name.replace(".b.", ".c.")
        stale.write_bytes(b"half")
        stale_dir = tmp_path / ".imgs.tmpabc123"
        stale_dir.mkdir()
        tmp.write_bytes(b"ok")
    assert is_temp(stale) and is_temp(stale_dir) and not is_temp(tmp_path / "b.png")
    removed = clean_stale_temps(tmp_path)
    assert sorted(removed) == sorted([stale, stale_dir])
    assert (tmp_path / "b.png").read_bytes() == b"ok"
    assert_nothing_half_written(tmp_path)


def test_study_images_skip_temp_files(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "7.png")
    (tmp_path / ".7.k2j3h4.tmp.png").write_bytes(b"")  # what a killed atomic_path leaves
    (tmp_path / ".8.x9y8z7.tmp.png").write_bytes(b"")
    found = discover_images(tmp_path)
    assert [(i.image_id, i.variant) for i in found] == [("7", "raw")]
    (tmp_path / "7.png").unlink()
    with pytest.raises(InputError, match="no images found"):
        discover_images(tmp_path)
