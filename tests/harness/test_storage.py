"""The storage wrapper: local paths and URIs, with their query options intact."""

from __future__ import annotations

from harness.run.storage import Storage, normalize


def test_child_of_a_uri_joins_the_path_and_keeps_the_query():
    assert Storage("s3://bucket/p?region=us-west-2").child("run").root == \
        "s3://bucket/p/run?region=us-west-2"
    assert Storage("gs://b/x").child("y").root == "gs://b/x/y"


def test_local_storage_round_trip(tmp_path):
    run = Storage(normalize(str(tmp_path))).child("quick-1")
    run.ensure_writable()
    run.write_text("metadata.json", "{}")
    assert run.exists("metadata.json") and run.read_text("metadata.json") == "{}"
    assert run.list_files() == ["metadata.json"] and run.list_dirs() == []


def test_file_uri_storage_reads_what_a_local_path_wrote(tmp_path):
    Storage(str(tmp_path)).write_text("a.txt", "hello")
    assert Storage(f"file://{tmp_path}").read_text("a.txt") == "hello"


def test_name_is_the_directory_without_a_uris_options():
    assert Storage("/runs/quick-1/").name == "quick-1"
    assert Storage("s3://bucket/runs/quick-1?region=eu-west-1").name == "quick-1"
