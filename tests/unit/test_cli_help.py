"""The command line a user meets (issue 22 item 9): user-facing --help and demo layouts that ship."""

import pytest

from instdiff.cli import build_parser, main
from instdiff.data.demo import complete_from_masks, read_demo, shipped_demos


def test_help_is_written_for_users(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "make smoke" in text and "instdiff summary results/smoke" in text
    assert "register(subparsers)" not in text and "adding a command touches" not in text
    assert "summary" in text and "compare" in text
    assert build_parser().prog == "instdiff"


def test_demo_layouts_ship_and_generate_finds_them_by_name(tmp_path, capsys):
    names = shipped_demos()
    assert {"boxes_picnic", "points_harbour", "scribbles_garden", "mask_teapot"} <= set(names)
    kinds = set()
    for name in names:
        layout = complete_from_masks(read_demo(name), 0)
        for inst in layout.instances:
            kinds |= {k for k in ("point", "scribble", "mask") if getattr(inst, k)}
    assert kinds == {"point", "scribble", "mask"}
    # By name: the layout is found, the (absent) model is what the command asks for.
    assert main(["generate", "--layout", "boxes_picnic", "--out", str(tmp_path), "--model", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "model folder does not exist" in err
    assert main(["generate", "--layout", "no_such_demo", "--out", str(tmp_path)]) == 2
    assert "boxes_picnic" in capsys.readouterr().err           # the error lists the shipped demos
