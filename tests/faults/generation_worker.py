"""A generation shard in its own process, for the kill tests: ``python -m tests.faults.generation_worker ARGS.json``.

It builds the seeded tiny pipeline of ``tests.unit.tiny_stack`` (the same weights as the test's) and runs
a :class:`~instdiff.generation.shard.ShardJob` with the arguments in the JSON file, after touching the ``ready`` file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from instdiff.generation.shard import ShardJob
from tests.unit.tiny_stack import tiny_pipeline

if __name__ == "__main__":
    args = json.loads(Path(sys.argv[1]).read_text())
    pipe = tiny_pipeline(Path(args.pop("tiny_dir")), seed=0)
    Path(args.pop("ready")).touch()  # the kill points are counted from here, not from the imports
    ShardJob(**args).run(pipeline=pipe)
