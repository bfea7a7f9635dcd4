"""The ratings table: schema validation errors name the file, line, field and fix."""

from __future__ import annotations

import pytest

from instdiff.core.errors import InputError
from instdiff.raters.table import COLUMNS, read_ratings, write_ratings

HEADER = ",".join(COLUMNS)
T = "2024-05-19T10:12:00+00:00"


def _csv(tmp_path, *rows, name="ratings.csv", header=HEADER):
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _row(image, rater, criterion, score, variant):
    return {"image_id": image, "rater_id": rater, "criterion": criterion, "score": score, "variant": variant,
            "timestamp": T}


def test_reads_a_valid_table_made_by_the_writer(tmp_path):
    path = tmp_path / "ratings.csv"
    write_ratings(path, [_row("a", "r1", "overall", 3, "raw"), _row("a", "r1", "scene_fit", 5, "refined"),
                         _row("b", "r2", "overall", 1, "raw")])
    df = read_ratings(path)
    assert list(df.columns) == COLUMNS
    assert df["score"].tolist() == [3, 5, 1]
    assert df["score"].dtype.kind == "i"


@pytest.mark.parametrize("score", ["0", "6", "2.5", "x", ""])
def test_score_out_of_range_names_file_line_and_fix(tmp_path, score):
    path = _csv(tmp_path, f"a,r1,overall,3,raw,{T}", f"a,r1,scene_fit,{score},raw,{T}")
    with pytest.raises(InputError) as exc:
        read_ratings(path)
    assert exc.value.path == str(path)
    assert exc.value.field == "score"
    assert "line 3" in str(exc.value) and "1 to 5" in str(exc.value)
    assert exc.value.fix


def test_score_written_as_float_integer_is_accepted(tmp_path):
    assert read_ratings(_csv(tmp_path, f"a,r1,overall,4.0,raw,{T}"))["score"].tolist() == [4]


def test_unknown_image(tmp_path):
    path = _csv(tmp_path, f"a,r1,overall,3,raw,{T}", f"zzz,r1,overall,3,raw,{T}")
    read_ratings(path)  # without an image list every id is accepted
    with pytest.raises(InputError, match=r"line 3: image 'zzz' is not one of the 2 study images") as exc:
        read_ratings(path, known_images=["a", "b"])
    assert exc.value.field == "image_id"


def test_duplicate_rating_names_both_lines(tmp_path):
    path = _csv(tmp_path, f"a,r1,overall,3,raw,{T}", f"a,r1,overall,3,refined,{T}", f"a,r1,overall,4,raw,{T}")
    with pytest.raises(InputError, match="duplicate rating") as exc:
        read_ratings(path)
    assert "line 4" in str(exc.value) and "line 2" in str(exc.value)
    assert "keep one" in exc.value.fix


def test_duplicate_across_files(tmp_path):
    a = _csv(tmp_path, f"a,r1,overall,3,raw,{T}", name="one.csv")
    b = _csv(tmp_path, f"a,r1,overall,2,raw,{T}", name="two.csv")
    with pytest.raises(InputError, match="duplicate") as exc:
        read_ratings([a, b])
    assert exc.value.path == str(b) and str(a) in str(exc.value)


@pytest.mark.parametrize(
    "row, field",
    [
        (f"a,r1,realism,3,raw,{T}", "criterion"),
        (f"a,r1,overall,3,sdxl,{T}", "variant"),
        (f",r1,overall,3,raw,{T}", "image_id"),
        (f"a,,overall,3,raw,{T}", "rater_id"),
        ("a,r1,overall,3,raw,2024-05-19 10:12", "timestamp"),  # no time zone
        ("a,r1,overall,3,raw,yesterday", "timestamp"),
    ],
)
def test_bad_fields(tmp_path, row, field):
    with pytest.raises(InputError) as exc:
        read_ratings(_csv(tmp_path, row))
    assert exc.value.field == field and "line 2" in str(exc.value)


def test_missing_column_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="lacks column") as exc:
        read_ratings(_csv(tmp_path, "a,r1,overall,3,raw", header="image_id,rater_id,criterion,score,variant"))
    assert exc.value.field == "timestamp"
    with pytest.raises(InputError, match="does not exist"):
        read_ratings(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="no ratings"):
        read_ratings(_csv(tmp_path, name="empty.csv"))


def test_write_then_read_round_trip(tmp_path):
    rows = [{"image_id": "b", "rater_id": "r2", "criterion": "overall", "score": 2, "variant": "raw", "timestamp": T},
            {"image_id": "a", "rater_id": "r1", "criterion": "scene_fit", "score": 5, "variant": "refined",
             "timestamp": T}]
    path = tmp_path / "out" / "t.csv"
    assert write_ratings(path, rows) == 2
    df = read_ratings(path)
    assert df["rater_id"].tolist() == ["r1", "r2"]  # sorted by rater
    assert not list(path.parent.glob(".*tmp*"))  # atomic write left no temporary file
