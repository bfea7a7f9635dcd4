"""Item 8 of issue 24: recovery hints name commands that work. The fix text of a damaged image names a Snakemake
command that the real Snakefile accepts and that reruns exactly that experiment's generate jobs; the README's
recovery section covers `--rerun-incomplete` (only the Snakemake process killed, its jobs orphaned)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from instdiff.core.image_errors import regenerate_fix

from tests.conftest import REPO


def test_the_regenerate_command_reruns_exactly_the_experiments_shards(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    cfg["run"] = "i24fix"
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    folder = tmp_path / "results/i24fix/images/box"
    (folder / "shards").mkdir(parents=True)
    fix = regenerate_fix(folder / "7.png")
    command = re.search(r"`(snakemake [^`]+)`", fix).group(1)
    assert fix.startswith(f"delete {folder / '7.png'} and regenerate it") and " -R generate -- " in command
    args = shlex.split(command)[1:]
    args = [str(Path(a).relative_to(tmp_path)) if a.startswith(str(tmp_path)) else a for a in args]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-n", "--configfile",
                           str(tmp_path / "cfg.yaml"), "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path), *args], capture_output=True, text=True, env=env, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    shards = set(re.findall(r"images/(\w+)/shards/(\d+-of-\d+)\.json", out))
    assert shards == {("box", "0-of-2"), ("box", "1-of-2")}, shards


def test_a_copied_image_set_is_remade_through_its_done_json(tmp_path):
    fix = regenerate_fix(tmp_path / "images/box_jpeg75/7.jpg")
    assert f"`snakemake --cores all -f {tmp_path / 'images/box_jpeg75/done.json'}`" in fix


def test_the_readme_recovery_section_covers_rerun_incomplete():
    text = (REPO / "README.md").read_text()
    start = text.index("After a hard stop of")
    section = text[start:text.index("####", start)]
    assert "--unlock" in section and "--rerun-incomplete" in section
    assert "-R generate" in section  # a damaged image: the command that makes it again
