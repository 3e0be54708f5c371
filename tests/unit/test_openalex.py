"""Reading OpenAlex files: every accepted shape, and every kind of bad record with its place."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from adapters.openalex import (
    UnreadableFileError,
    WorkFileReader,
    normalise_orcid,
    parse_bytes,
    rebuild_abstract,
)
from tests.factories import author, institution, work


def read(path: Path):
    return list(WorkFileReader(path))


def test_one_object_a_list_an_api_page_and_json_lines_all_read(tmp_path):
    w1, w2 = work(1, [author(1)]), work(2, [author(2)])
    shapes = {
        "object.json": json.dumps(w1, indent=2),
        "list.json": json.dumps([w1, w2]),
        "page.json": json.dumps({"meta": {"count": 2}, "results": [w1, w2]}, indent=1),
        "lines.jsonl": json.dumps(w1) + "\n\n" + json.dumps(w2) + "\n",
    }
    for name, text in shapes.items():
        (tmp_path / name).write_text(text)
        parsed = read(tmp_path / name)
        assert all(p.error is None for p in parsed), name
        assert [p.record["openalex_id"] for p in parsed] == ["W1", "W2"][: len(parsed)], name
    assert len(read(tmp_path / "object.json")) == 1


def test_gzipped_json_lines_read(tmp_path):
    path = tmp_path / "works.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps(work(1, [author(1)])) + "\n" + json.dumps(work(2, [author(1)])) + "\n")
    reader = WorkFileReader(path)
    assert [p.record["openalex_id"] for p in reader] == ["W1", "W2"]
    assert reader.bytes_read == path.stat().st_size


def test_a_bad_line_is_reported_with_its_number_and_the_rest_is_read(tmp_path):
    bad_type = work(3, [author(3)])
    bad_type["publication_year"] = "last year"
    lines = [json.dumps(work(1, [author(1)])), "{not json", json.dumps(bad_type), json.dumps(work(4, [author(4)]))]
    path = tmp_path / "works.jsonl"
    path.write_text("\n".join(lines) + "\n")
    parsed = read(path)
    assert [p.where for p in parsed if p.error] == ["line 2", "line 3"]
    assert parsed[1].error.startswith("not JSON")
    assert "publication_year" in parsed[2].error
    assert [p.record["openalex_id"] for p in parsed if p.record] == ["W1", "W4"]


def test_a_bad_record_in_a_list_is_reported_by_position():
    bad = work(2, [author(2)])
    bad["id"] = "https://openalex.org/A2"  # an author id where a work id belongs
    parsed = list(parse_bytes(json.dumps([work(1, [author(1)]), bad]).encode()))
    assert parsed[1].where == "record 2"
    assert parsed[1].error == "'https://openalex.org/A2' is not an OpenAlex work id"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("doi", "https://example.org/x", "is not a DOI"),
        ("publication_date", "2020-13-40", "is not a YYYY-MM-DD date"),
        ("cited_by_count", -1, "Expected `int` >= 0"),
        ("title", "x" * 10_001, "Expected `str` of length <= 10000"),
        ("publication_date", "20200601", "Expected `str` matching regex"),
        ("cited_by_count", 10**30, "Expected `int` <= 9007199254740992"),
    ],
)
def test_bad_field_values_are_refused_with_a_reason(field, value, reason):
    bad = work(1, [author(1)])
    bad[field] = value
    [parsed] = parse_bytes(json.dumps(bad).encode())
    assert parsed.record is None
    assert reason in parsed.error


def test_an_invalid_orcid_is_left_out_with_a_warning_and_the_work_imports():
    bad = work(1, [author(1, orcid="https://orcid.org/0000-0002-1825-0098"), author(2)])
    [parsed] = parse_bytes(json.dumps(bad).encode())
    assert parsed.error is None
    assert [a["orcid"] for a in parsed.record["authorships"]] == [None, None]
    assert parsed.warnings == ("authorships[1].author.orcid: 'https://orcid.org/0000-0002-1825-0098' is not a valid "
                               "ORCID iD; left out",)


@pytest.mark.parametrize(("name", "kept"), [
    ("Ana\u202e Silva", "Ana Silva"),             # a right-to-left override
    ("Zo\u009be", "Zoe"),                           # a C1 control
    ("Jos\u00e9\u061c Garc\u00eda", "Jos\u00e9 Garc\u00eda"),  # the Arabic letter mark
])
def test_names_lose_control_and_direction_characters_with_a_warning(name, kept):
    w = work(1, [author(1, name)], institutions=[[{"id": "https://openalex.org/I1", "display_name": "Uni\u202d"}]])
    [parsed] = parse_bytes(json.dumps(w).encode())
    assert parsed.record["authorships"][0]["display_name"] == kept
    assert parsed.record["authorships"][0]["institutions"][0]["display_name"] == "Uni"
    assert "authorships[1].author.display_name: control or text-direction characters dropped" in parsed.warnings
    assert "authorships[1].institutions[1].display_name: control or text-direction characters dropped" in parsed.warnings


def test_a_name_of_invisible_characters_is_left_out():
    w = work(1, [author(1, "\u200b\u3164 \u2800")])
    [parsed] = parse_bytes(json.dumps(w).encode())
    assert parsed.record["authorships"][0]["display_name"] == ""
    assert parsed.warnings[0].startswith("authorships[1].author.display_name: nothing visible")


def test_unknown_openalex_fields_are_ignored():
    w = work(1, [author(1)])
    w["counts_by_year"] = [{"year": 2020, "cited_by_count": 1}]
    w["authorships"][0]["countries"] = ["NL"]
    [parsed] = parse_bytes(json.dumps(w).encode())
    assert parsed.error is None


def test_fields_are_normalised():
    w = work(1, [author(1, orcid="https://orcid.org/0000-0002-1825-0097")])
    w["doi"] = "https://doi.org/10.1234/ABC"
    [parsed] = parse_bytes(json.dumps(w).encode())
    record = parsed.record
    assert record["doi"] == "10.1234/abc"
    assert record["authorships"][0]["orcid"] == "0000-0002-1825-0097"
    assert record["authorships"][0]["openalex_id"] == "A1"
    assert record["venue"] == {"openalex_id": "S1", "display_name": "Journal One", "type": "journal"}
    assert record["topics"] == [{"openalex_id": "T1", "display_name": "Topic 1"}]


def test_authors_that_openalex_could_not_identify_are_left_out():
    w = work(1, [author(1), author(2)])
    w["authorships"][1]["author"]["id"] = None
    [parsed] = parse_bytes(json.dumps(w).encode())
    assert [a["openalex_id"] for a in parsed.record["authorships"]] == ["A1"]


def test_the_abstract_is_rebuilt_from_the_inverted_index():
    assert rebuild_abstract({"the": [0, 2], "cat": [1], "hat.": [3]}) == "the cat the hat."
    assert rebuild_abstract(None) is None


def test_orcid_check_digit_x_is_accepted():
    assert normalise_orcid("0000-0002-1694-233X") == "0000-0002-1694-233X"


@pytest.mark.parametrize("data", [b"", b"   \n", b"<works/>"])
def test_input_that_is_not_json_at_all_is_unreadable(data):
    with pytest.raises(UnreadableFileError):
        list(parse_bytes(data))


def test_json_that_is_not_a_work_is_a_malformed_record():
    [parsed] = parse_bytes(b"42")
    assert parsed.error == "expected an OpenAlex Work object, a list of them or an API page"


def test_ids_are_normalised_so_one_author_has_one_id():
    w = work(1, [author(1)])
    w["authorships"][0]["author"]["id"] = "https://openalex.org/a0001"
    [parsed] = parse_bytes(json.dumps(w).encode())
    assert parsed.record["authorships"][0]["openalex_id"] == "A1"


def test_orcid_with_lowercase_check_digit_and_www_prefix_is_accepted():
    assert normalise_orcid("https://www.orcid.org/0000-0002-1694-233x") == "0000-0002-1694-233X"


def test_json_nested_too_deeply_is_reported_not_crashed_on(tmp_path):
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(UnreadableFileError, match="nested too deeply"):
        list(parse_bytes(deep))
    path = tmp_path / "deep.jsonl"
    path.write_bytes(json.dumps(work(1, [author(1)])).encode() + b"\n" + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"\n")
    parsed = read(path)
    assert parsed[1].where == "line 2"
    assert parsed[1].error == "JSON nested too deeply"


def test_a_gz_file_that_is_not_gzip_is_unreadable(tmp_path):
    path = tmp_path / "works.jsonl.gz"
    path.write_text(json.dumps(work(1, [author(1)])))
    with pytest.raises(UnreadableFileError, match="cannot be read"):
        read(path)


def test_control_characters_leave_titles_venues_and_topic_names_with_a_warning():
    w = work(1, [author(1)], title="Deep\x00 learning\x0b now", topics=[(1, "Bio\u202einformatics")])
    w["primary_location"]["source"]["display_name"] = "Journal\x1b One"
    [parsed] = parse_bytes(json.dumps(w).encode())
    assert parsed.record["title"] == "Deep learning now"
    assert parsed.record["venue"]["display_name"] == "Journal One"
    assert parsed.record["topics"][0]["display_name"] == "Bioinformatics"
    assert parsed.warnings == ("primary_location.source.display_name: control or text-direction characters dropped",
                               "title: control characters dropped",
                               "topics[1].display_name: control or text-direction characters dropped")


def test_institutions_of_an_unknown_shape_are_left_out_and_the_authorship_kept():
    w = work(1, [author(1), author(2)])
    w["authorships"][0]["institutions"] = ["Uni Example", {"id": "https://openalex.org/W5", "display_name": "Uni"},
                                           {"id": "https://openalex.org/I7", "display_name": 7}, {"lineage": []},
                                           {"id": "https://openalex.org/I8", "display_name": "Uni Eight"}]
    w["authorships"][1]["institutions"] = {"id": "https://openalex.org/I9"}
    [parsed] = parse_bytes(json.dumps(w).encode())
    first, second = parsed.record["authorships"]
    assert first["institutions"] == [
        {"openalex_id": None, "display_name": "Uni", "ror": None, "country_code": None},
        {"openalex_id": "I8", "display_name": "Uni Eight", "ror": None, "country_code": None},
    ]
    assert second["institutions"] == []
    assert parsed.warnings == (
        "authorships[1].institutions[1]: not an OpenAlex institution (Expected `object`, got `str`); left out",
        "authorships[1].institutions[2].id: 'https://openalex.org/W5' is not an OpenAlex institution id; left out",
        "authorships[1].institutions[3]: not an OpenAlex institution (Expected `str | null`, got `int` - at "
        "`$.display_name`); left out",
        "authorships[2].institutions: expected a list, got dict; left out",
    )


def test_an_author_of_another_shape_loses_that_authorship_only():
    w = work(1, [author(1), author(2), author(3)])
    w["authorships"][0]["author"] = "Ana Silva"
    w["authorships"][1]["author"]["id"] = "https://openalex.org/W2"
    w["authorships"][2]["author"]["orcid"] = 12
    [parsed] = parse_bytes(json.dumps(w).encode())
    assert [(a["openalex_id"], a["orcid"]) for a in parsed.record["authorships"]] == [("A3", None)]
    assert parsed.warnings == (
        "authorships[1].author: expected an object, got str; authorship left out",
        "authorships[2].author.id: 'https://openalex.org/W2' is not an OpenAlex author id; authorship left out",
        "authorships[3].author.orcid: 12 is not a valid ORCID iD; left out",
    )


def test_an_author_listed_twice_is_one_authorship_with_what_both_say():
    orcid = "https://orcid.org/0000-0002-1825-0097"
    w = work(1, [author(1), author(2), author(1, orcid=orcid)],
             institutions=[[institution(1)], [], [institution(2)]])
    [parsed] = parse_bytes(json.dumps(w).encode())
    assert [a["openalex_id"] for a in parsed.record["authorships"]] == ["A1", "A2"]
    first = parsed.record["authorships"][0]
    assert first["orcid"] == "0000-0002-1825-0097"
    assert [i["openalex_id"] for i in first["institutions"]] == ["I1", "I2"]
    assert parsed.warnings == ("authorships[3].author.id: A1 is listed already at authorships[1]; merged into it",)


def test_a_work_with_5000_authors_imports_whole():
    w = work(1, [author(n) for n in range(1, 5_001)])
    [parsed] = parse_bytes(json.dumps(w).encode())
    assert len(parsed.record["authorships"]) == 5_000 and parsed.warnings == ()


def test_above_10000_authors_the_first_10000_are_kept_with_a_warning():
    w = work(1, [author(n) for n in range(1, 10_003)])
    [parsed] = parse_bytes(json.dumps(w).encode())
    assert len(parsed.record["authorships"]) == 10_000
    assert parsed.warnings == ("authorships: 10,002 listed; the first 10,000 kept",)


def test_a_record_without_an_id_is_skipped_with_the_reason():
    w = work(1, [author(1)])
    del w["id"]
    [parsed] = parse_bytes(json.dumps(w).encode())
    assert parsed.record is None and "missing required field `id`" in parsed.error


def test_a_body_that_is_not_utf8_is_unreadable_and_says_where():
    data = json.dumps(work(1, [author(1)])).encode() + b"\n" + b'{"id": "W2", "title": "Caf\xe9"}\n'
    with pytest.raises(UnreadableFileError, match=r"^the input is not UTF-8: byte 0xe9 at line 2, column 27$"):
        list(parse_bytes(data))


def test_a_line_that_is_not_utf8_is_malformed_and_the_rest_of_the_file_reads(tmp_path):
    path = tmp_path / "works.jsonl"
    path.write_bytes(b'{"id": "W2", "title": "Caf\xe9"}\n' + json.dumps(work(1, [author(1)])).encode() + b"\n")
    parsed = read(path)
    assert (parsed[0].where, parsed[0].error) == ("line 1", "not UTF-8: byte 0xe9 at column 27")
    assert parsed[1].record["openalex_id"] == "W1"
