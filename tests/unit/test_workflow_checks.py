from instdiff.core.workflow_checks import placeholder_message, profile_placeholders


class Res:
    """What Snakemake hands over: a resource wrapping the raw profile value."""

    def __init__(self, raw):
        self.raw = raw


def test_placeholders_found_in_default_and_set_resources():
    found = profile_placeholders(
        {"slurm_partition": Res("<PARTITION>"), "mem_mb": Res(8000), "slurm_account": Res("lab")},
        {"generate": {"gpu_model": Res("<GPU_MODEL>"), "runtime": Res(60)}},
    )
    assert found == ["default-resources: slurm_partition: <PARTITION>", "set-resources: generate: gpu_model: <GPU_MODEL>"]
    msg = placeholder_message(found)
    assert "slurm/config.yaml" in msg and "<PARTITION>" in msg and "Nothing was submitted" in msg


def test_filled_profile_has_no_placeholders():
    assert profile_placeholders({"slurm_partition": Res("gpu"), "note": Res("a<b>c")}, None) == []
    assert profile_placeholders(None, {}) == []
