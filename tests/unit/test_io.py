"""The one JSON / JSON-lines reader: a missing or broken file is one InputError naming the file."""

import pytest

from instdiff.core.errors import InputError
from instdiff.core.io import read_json, read_jsonl


@pytest.mark.parametrize("reader", [read_json, read_jsonl])
def test_missing_file_is_an_input_error_naming_it(tmp_path, reader):
    path = tmp_path / "absent.jsonl"
    with pytest.raises(InputError, match="absent.jsonl: file does not exist. Fix: run the rule"):
        reader(path)
    with pytest.raises(InputError, match="absent.jsonl: box file does not exist. Fix: pass the box file"):
        reader(path, "box file", "pass the box file")


def test_jsonl_skips_blank_lines_and_names_the_bad_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n[2]\n')
    assert read_jsonl(path) == [{"a": 1}, [2]]
    path.write_text('{"a": 1}\nnot json\n')
    with pytest.raises(InputError, match="line 2 is not valid JSON"):
        read_jsonl(path)
