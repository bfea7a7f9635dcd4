"""What a rerun does on a finished run (dry runs only, cheap): the documented rebuild commands rebuild exactly their
outputs; config edits, code edits, touched scripts and a moved checkout rerun exactly what they should.

The finished run is made without computing anything: every output of the smoke DAG is created empty, then
`snakemake --touch` orders the mtimes and records each job's metadata (params, input set), as a real run would.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.workflow.conftest import copy_repo, run_snakemake

pytestmark = pytest.mark.workflow

CONFIG = "config/smoke.yaml"


def _dry_run_outputs(root: Path) -> list[str]:
    out = run_snakemake(["all", "-n", "--configfile", CONFIG], cwd=root).stdout
    return [f for line in re.findall(r"^\s+output: (.*)$", out, re.M) for f in line.split(", ")]


def _finish(root: Path) -> None:
    """Create every output, then touch every job (-F) so that each records its metadata as a real run does."""
    for name in _dry_run_outputs(root):
        path = root / name
        if path.suffix:  # every file output of the smoke DAG has a suffix; directory() outputs have none
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:
            path.mkdir(parents=True, exist_ok=True)
    run_snakemake(["all", "--touch", "--forceall", "--cores", "1", "--configfile", CONFIG], cwd=root)


def rules_to_run(root: Path, *args: str, config: str = CONFIG) -> set[str]:
    """The rules of the jobs a dry run would start (the aggregate rule `all` aside). ``args`` come first: the
    command as documented (targets, then options); --configfile takes several values, so it goes last."""
    out = run_snakemake([*args, "-n", "--configfile", config], cwd=root).stdout
    if "Nothing to be done" in out:
        return set()
    return set(re.findall(r"^(?:local)?rule (\w+):$", out, re.M)) - {"all"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    root = copy_repo(tmp_path_factory.mktemp("rerun") / "repo")
    _finish(root)
    assert rules_to_run(root, "all") == set(), "a finished run has nothing to do"
    return root


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["table1", "-R", "table1"], {"table1"}),
        (["table1", "--forcerun", "table1"], {"table1"}),
        (["-f", "table1"], {"table1"}),
        (["table2", "-R", "table2"], {"table2"}),
        (["-f", "fid_table"], {"fid_table"}),
        (["-f", "generation_cost"], {"generation_cost"}),
        (["figures", "-R", "figures"], {"figures"}),
        (["-f", "figures"], {"figures"}),
        (["all", "-R", "table1"], {"table1", "report_page"}),  # the report page shows Table 1
    ],
)
def test_documented_rebuild_commands_rebuild_exactly_their_outputs(finished, command, expected):
    assert rules_to_run(finished, *command) == expected


def test_touching_a_script_reruns_nothing(finished):
    # What `git checkout` does to every file it writes.
    for script in (finished / "scripts").glob("*.py"):
        script.touch()
    assert rules_to_run(finished, "all") == set()


def _edited(path: Path, extra: str):
    original = path.read_text()
    path.write_text(original + extra)
    return original


def _rules_after_edit(root: Path, module: str, edit: str = "\n_AN_EDIT = 1\n") -> set[str]:
    """What `all` plans after an edit of a package module (by default a statement: code hashes ignore comments)."""
    path = root / "instdiff" / module
    original = _edited(path, edit)
    try:
        return rules_to_run(root, "all")
    finally:
        path.write_text(original)


def test_editing_package_code_reruns_the_rules_that_run_it(finished):
    assert _rules_after_edit(finished, "raters/analysis.py") == {"raters_stats"}
    todo = _rules_after_edit(finished, "metrics/pim.py")
    assert "pim" in todo
    # Attribute binding matches boxes with PiM's greedy matcher, so it reruns too; images and detections never.
    assert not todo & {"generate", "detect", "fid", "fid_reference", "layouts", "raters_stats"}, todo


def test_a_comment_edit_of_package_code_reruns_nothing(finished):
    """Code hashes are of the syntax tree (instdiff.core.code_version): a comment or reformatting changes no job."""
    assert _rules_after_edit(finished, "metrics/pim.py", "\n# a comment about PiM\n") == set()
    assert _rules_after_edit(finished, "generation/sampler.py", "\n\n# the sampler, reworded\n") == set()


def test_unrelated_config_edits_rerun_no_metric(finished, tmp_path):
    config = yaml.safe_load((finished / CONFIG).read_text())
    config["raters"]["n_boot"] = int(config["raters"].get("n_boot", 2000)) + 1
    config["llm"].setdefault("api", {})["timeout_s"] = 12345
    edited = finished / "config" / "edited.yaml"
    edited.write_text(yaml.safe_dump(config))
    try:
        todo = rules_to_run(finished, "all", config="config/edited.yaml")
    finally:
        edited.unlink()
    assert todo == {"raters_stats"}, todo


def test_a_moved_checkout_reruns_nothing(finished, tmp_path):
    moved = tmp_path / "elsewhere" / "repo"
    shutil.copytree(finished, moved, symlinks=True)  # copy2: mtimes kept, as `cp -a` or rsync -a would
    shared = finished.parent / "shared"
    if shared.exists():
        (moved.parent / "shared").symlink_to(shared.resolve())
    assert rules_to_run(moved, "all") == set()
