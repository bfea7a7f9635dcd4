"""What the README says of the paper run is what the workflow and the SLURM plugin do (issue 20, item 9)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.conftest import REPO
from tests.workflow.conftest import copy_repo, run_snakemake

pytestmark = pytest.mark.workflow

README = (REPO / "README.md").read_text()


@pytest.fixture(scope="module")
def paper_counts(tmp_path_factory) -> Counter:
    root = copy_repo(tmp_path_factory.mktemp("readme") / "repo")
    proc = run_snakemake(["--profile", "slurm", "-n", "all", "--sdm", "env-modules"], cwd=root)
    # The "Job stats" table the dry run ends with (what a user reads): rule, count; the total last.
    table = proc.stdout.rsplit("Job stats:", 1)[1]
    return Counter({rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)})


def test_job_counts_are_the_dry_runs(paper_counts):
    said = re.search(r"plans (\d+) jobs, (\d+) of them\s+generation shards", README)
    assert said, "the README states the paper dry run's job counts"
    assert (int(said.group(1)), int(said.group(2))) == (paper_counts["total"], paper_counts["generate"])
    for n in re.findall(r"(\d+) (?:generation|GPU) (?:shards|jobs)", README):
        assert int(n) == paper_counts["generate"], f"README says {n} generation shards"


def test_the_paper_commands_say_to_activate_the_venv():
    section = README.split("## Running the paper protocol", 1)[1].split("```", 2)[1]
    assert "source .venv/bin/activate" in section.split("snakemake")[0], "activate before the first snakemake"


class _Job:
    """What set_gres_string reads of a job: its resources."""

    def __init__(self, **resources):
        self.resources = type("R", (dict,), {"__getattr__": dict.__getitem__})(resources)


def test_gpu_type_names_the_plugin_refuses_and_the_way_around_them():
    from snakemake_executor_plugin_slurm.utils import set_gres_string
    from snakemake_interface_common.exceptions import WorkflowError

    with pytest.raises(WorkflowError, match="Invalid GPU model format"):
        set_gres_string(_Job(gpu=1, gpu_model="a100-80gb"))
    assert "Invalid GPU model format: a100-80gb" in README
    assert set_gres_string(_Job(gpu=1, gpu_model="a100")) == " --gpus=a100:1"
    assert set_gres_string(_Job(gpu=1, gpu_model="")) == " --gpus=1"  # any GPU; the constraint picks the card
    assert 'gpu_model: ""' in README and 'constraint: "a100-80gb"' in README


def test_the_readme_says_what_to_do_after_moving_a_checkout():
    from instdiff.core.checkout import FIX

    moving = README.split("**Moving the checkout**", 1)[1].split("\n- ", 1)[0]
    assert FIX in moving and "instdiff" in moving
