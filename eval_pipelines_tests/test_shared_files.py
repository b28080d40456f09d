"""Shared folders (labels, canary, offline, golden, reports) under the home folder or in an object store."""

import fsspec

from eval_pipelines.home import Home


def test_a_folder_of_the_home_is_used_in_place(home):
    reports = home.shared("reports")
    written = reports.target("drift/day.html")
    written.write_text("<html></html>")
    assert written == home.reports / "drift" / "day.html"
    assert reports.publish(written) == written.as_uri() and reports.local() == home.reports


def test_a_folder_in_the_bucket_is_published_whole_and_mirrored_on_another_machine(home, s3_lake_url, tmp_path):
    shared_url = s3_lake_url.rsplit("/", 1)[0] + "/shared"
    writer = Home(home.root, shared_url=shared_url).shared("golden")
    version = writer.target("golden_set_v1.jsonl")
    version.write_text('{"id": "a"}\n')
    url = writer.publish(version)
    assert url == f"{shared_url}/golden/golden_set_v1.jsonl"

    reader = Home(tmp_path / "other-machine", shared_url=shared_url).shared("golden")
    folder = reader.local()
    assert (folder / "golden_set_v1.jsonl").read_text() == '{"id": "a"}\n'
    mirrored_at = (folder / "golden_set_v1.jsonl").stat().st_mtime_ns
    assert reader.local() == folder and (folder / "golden_set_v1.jsonl").stat().st_mtime_ns == mirrored_at

    fs, path = fsspec.core.url_to_fs(url)
    fs.rm(path)
    assert not list(reader.local().iterdir()), "a file deleted from the bucket leaves the mirror too"
