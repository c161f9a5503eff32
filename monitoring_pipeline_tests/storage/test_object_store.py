"""The object store's process-wide parts, and a step's listing snapshot (local and S3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitoring_pipeline.storage.object_store import (
    CACHE,
    SINGLE_PUT_BYTES,
    ListingSnapshot,
    make_s3_client,
    open_store,
)


def test_one_s3_client_per_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 clients are built once per process and environment (0.3 s each, 20 per S3 run before): the
    same settings share one, other credentials or another endpoint get their own."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "first")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "first-secret")
    first = make_s3_client()
    assert make_s3_client() is first
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "second-secret")
    second = make_s3_client()
    assert second is not first and second.meta.endpoint_url == "http://127.0.0.1:9"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:10")
    assert make_s3_client().meta.endpoint_url == "http://127.0.0.1:10"


def test_a_listing_snapshot_lists_once_and_sees_its_own_writes(warehouse_root: str, tmp_path: Path) -> None:
    """A step's store (ListingSnapshot): a prefix is listed once however often it is asked for; its own
    put and delete drop the listings they touch; another writer's object is seen by the next snapshot.
    On the local store and on S3."""
    source = tmp_path / "part"
    source.write_bytes(b"rows")
    store = open_store(warehouse_root)
    store.put_file(source, "t/dt=2026-11-01/hour=00.parquet")
    calls: list[str] = []
    real_list = store.list
    store.list = lambda prefix: calls.append(prefix) or real_list(prefix)  # type: ignore[method-assign]
    snapshot = ListingSnapshot(store)
    day = "t/dt=2026-11-01/"
    assert [o.key for o in snapshot.list(day)] == [day + "hour=00.parquet"]
    assert [o.key for o in snapshot.list(day)] == [day + "hour=00.parquet"] and calls == [day]
    open_store(warehouse_root).put_file(source, day + "hour=01.parquet")  # another process's write
    assert len(snapshot.list(day)) == 1 and calls == [day]  # not seen within this step
    assert len(ListingSnapshot(store).list(day)) == 2  # the next step sees it
    snapshot.put_file(source, day + "hour=02.parquet")
    assert [o.key[len(day) :] for o in snapshot.list(day)] == [
        "hour=00.parquet",
        "hour=01.parquet",
        "hour=02.parquet",
    ]
    snapshot.delete(day + "hour=00.parquet")
    assert [o.key[len(day) :] for o in snapshot.list(day)] == ["hour=01.parquet", "hour=02.parquet"]
    other = "t/dt=2026-11-02/"
    assert snapshot.list(other) == [] and snapshot.list(other) == [] and calls.count(other) == 1
    assert snapshot.uri("k") == store.uri("k") and snapshot.root_uri == store.root_uri


def test_a_written_object_is_read_back_from_its_local_copy(warehouse_root: str, tmp_path: Path) -> None:
    """What a step writes, the next step of the process reads without downloading it: a small object
    (one PUT, its entity tag from the answer) and one past the multipart threshold (its tag asked for)
    are both known by the version a listing shows. On the local store and on S3."""
    store = open_store(warehouse_root)
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_bytes(b"s" * 1000)
    large.write_bytes(os.urandom(SINGLE_PUT_BYTES + 1))
    store.put_file(small, "w/small")
    store.put_file(large, "w/large")
    listed = {o.key: o for o in store.list("w/")}
    assert {k: o.size for k, o in listed.items()} == {"w/large": SINGLE_PUT_BYTES + 1, "w/small": 1000}
    if warehouse_root.startswith("s3://"):
        assert all(CACHE.get(o) is not None for o in listed.values())  # no download needed
    paths = store.fetch([listed["w/small"], listed["w/large"]])
    assert paths[0].read_bytes() == small.read_bytes() and paths[1].read_bytes() == large.read_bytes()


def test_a_file_handed_over_is_moved_not_copied(warehouse_root: str, tmp_path: Path) -> None:
    """put_file(move=True) (the warehouse's publish): the object holds the file's bytes and the file is
    gone (renamed into place locally, into the download cache on S3); without move it stays. The object
    read back is the same either way. On the local store and on S3."""
    store = open_store(warehouse_root)
    kept, moved = tmp_path / "kept", tmp_path / "moved"
    kept.write_bytes(b"k" * 100)
    moved.write_bytes(b"m" * 100)
    store.put_file(kept, "h/kept")
    store.put_file(moved, "h/moved", move=True)
    assert kept.exists() and not moved.exists()
    listed = {o.key: o for o in store.list("h/")}
    assert [p.read_bytes() for p in store.fetch([listed["h/kept"], listed["h/moved"]])] == [
        b"k" * 100,
        b"m" * 100,
    ]
