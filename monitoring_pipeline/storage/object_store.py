"""One interface over the places objects live: a local folder (the default) and S3 through boto3.

Keys are '/'-separated and relative to the store's root (a folder, or `s3://bucket/prefix`).
Writes replace atomically: a local temp file renamed into place, or a single S3 PUT, so a reader
sees the old object or the new one, never half of one.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol


class ObjectStoreError(RuntimeError):
    """An object could not be listed, read or written; the message names the URI."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    uri: str
    modified: datetime | None = None  # when the object landed (mtime / S3 LastModified), UTC
    etag: str | None = None  # S3's entity tag: a new version of the object has a new one


def _place(local: Path, target: Path, move: bool) -> None:
    """`local` at `target`: renamed when moving and on the same filesystem (a 1M-row hour's copy costs
    0.05-0.2 s here), else copied."""
    if move:
        try:
            os.replace(local, target)
            return
        except OSError:  # another filesystem: copy
            pass
    shutil.copyfile(local, target)


class ObjectStore(Protocol):
    root_uri: str

    def list(self, prefix: str) -> list[StoredObject]: ...

    def head(self, key: str) -> StoredObject | None: ...

    def fetch(self, objects: Sequence[StoredObject]) -> list[Path]: ...

    def put_file(self, local: Path, key: str, move: bool = False) -> str: ...

    def delete(self, key: str) -> None: ...

    def uri(self, key: str) -> str: ...


class LocalObjectStore:
    """A folder on this machine; fetch returns the files in place (no copy)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root_uri = str(self.root)

    def uri(self, key: str) -> str:
        return str(self.root / key)

    def list(self, prefix: str) -> list[StoredObject]:
        folder = self.root / prefix if prefix.endswith("/") else (self.root / prefix).parent
        if not folder.is_dir():
            return []
        found = [
            StoredObject(
                key, (st := path.stat()).st_size, str(path), datetime.fromtimestamp(st.st_mtime, UTC)
            )
            for path in folder.rglob("*")
            if path.is_file() and (key := path.relative_to(self.root).as_posix()).startswith(prefix)
        ]
        return sorted(found, key=lambda o: o.key)

    def head(self, key: str) -> StoredObject | None:
        path = self.root / key
        if not path.is_file():
            return None
        st = path.stat()
        return StoredObject(key, st.st_size, str(path), datetime.fromtimestamp(st.st_mtime, UTC))

    def fetch(self, objects: Sequence[StoredObject]) -> list[Path]:
        return [self.root / o.key for o in objects]

    def put_file(self, local: Path, key: str, move: bool = False) -> str:
        """Copy `local` to the key (with move=True the file is handed over: renamed, not copied, when on
        the same filesystem), then rename it into place."""
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        _place(local, staging, move)
        os.replace(staging, target)
        return str(target)

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)


class S3ObjectStore:
    """`s3://bucket/prefix` through boto3. Endpoint, region and credentials come from AWS's standard
    chain (AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_S3, AWS_REGION, profiles, instance roles), so MinIO,
    R2 or any S3-compatible store works by setting an endpoint."""

    def __init__(self, uri: str, client: Any = None) -> None:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise ObjectStoreError(f"{uri}: expected s3://bucket[/prefix]")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.root_uri = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.client = client if client is not None else make_s3_client()

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    def list(self, prefix: str) -> list[StoredObject]:
        full_prefix = self._full(prefix)
        found = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full_prefix
            ):
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix) + 1 :] if self.prefix else item["Key"]
                    uri = f"s3://{self.bucket}/{item['Key']}"
                    found.append(
                        StoredObject(key, int(item["Size"]), uri, item.get("LastModified"), item.get("ETag"))
                    )
        except Exception as exc:  # botocore raises many unrelated types; all mean "cannot list"
            raise ObjectStoreError(f"cannot list s3://{self.bucket}/{full_prefix}: {exc}") from exc
        return sorted(found, key=lambda o: o.key)

    def head(self, key: str) -> StoredObject | None:
        try:
            meta = self.client.head_object(Bucket=self.bucket, Key=self._full(key))
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise ObjectStoreError(f"cannot read {self.uri(key)}: {exc}") from exc
        return StoredObject(
            key, int(meta["ContentLength"]), self.uri(key), meta.get("LastModified"), meta.get("ETag")
        )

    def fetch(self, objects: Sequence[StoredObject]) -> list[Path]:
        """Local copies, each object downloaded at most once per process while it is unchanged (the
        cache is keyed by URI and entity tag, so no copy can stand for another object or version)."""
        paths = []
        for obj in objects:
            path = CACHE.get(obj)
            if path is None:
                staging = CACHE.staging()
                try:
                    self.client.download_file(self.bucket, self._full(obj.key), str(staging))
                except Exception as exc:
                    staging.unlink(missing_ok=True)
                    raise ObjectStoreError(f"cannot download {obj.uri}: {exc}") from exc
                path = CACHE.add(obj, staging)
            paths.append(path)
        CACHE.trim(keep=paths)
        return paths

    def put_file(self, local: Path, key: str, move: bool = False) -> str:
        """Upload `local` and keep it in the download cache (with move=True the file is handed over to
        the cache, renamed rather than copied when on the same filesystem)."""
        size = local.stat().st_size
        try:
            if size < SINGLE_PUT_BYTES:  # one PUT, whose answer carries the new version's entity tag
                with local.open("rb") as body:
                    etag = self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=body)["ETag"]
            else:  # multipart, in parallel parts; the entity tag is asked for afterwards
                self.client.upload_file(str(local), self.bucket, self._full(key))
        except Exception as exc:
            raise ObjectStoreError(f"cannot upload to {self.uri(key)}: {exc}") from exc
        stored = (
            StoredObject(key, size, self.uri(key), None, etag) if size < SINGLE_PUT_BYTES else self.head(key)
        )
        if stored is not None:  # the steps after this one in the same process read it from here
            staging = CACHE.staging()
            _place(local, staging, move)
            CACHE.add(stored, staging)
        return self.uri(key)

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._full(key))
        except Exception as exc:
            raise ObjectStoreError(f"cannot delete {self.uri(key)}: {exc}") from exc


class ListingSnapshot:
    """A store whose listings are taken once and then kept, for one step of a run: a step asks for the
    same day's objects of a table many times (each hour's profile, its reference, its drift), and on S3
    each listing is a request. Its own writes and deletes drop the listings they touch; what other
    processes write meanwhile is seen by the next step's snapshot, as if written just after this one."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.root_uri = store.root_uri
        self._listed: dict[str, list[StoredObject]] = {}
        self._lock = threading.Lock()

    def list(self, prefix: str) -> list[StoredObject]:
        with self._lock:
            found = self._listed.get(prefix)
        if found is None:
            found = self.store.list(prefix)
            with self._lock:
                self._listed[prefix] = found
        return list(found)

    def head(self, key: str) -> StoredObject | None:
        return self.store.head(key)

    def fetch(self, objects: Sequence[StoredObject]) -> list[Path]:
        return self.store.fetch(objects)

    def put_file(self, local: Path, key: str, move: bool = False) -> str:
        try:
            return self.store.put_file(local, key, move)
        finally:
            self._forget(key)

    def delete(self, key: str) -> None:
        try:
            self.store.delete(key)
        finally:
            self._forget(key)

    def uri(self, key: str) -> str:
        return self.store.uri(key)

    def _forget(self, key: str) -> None:
        with self._lock:
            for prefix in [p for p in self._listed if key.startswith(p)]:
                del self._listed[prefix]


SINGLE_PUT_BYTES = 8 * 1024 * 1024  # boto3's multipart threshold: below it, upload_file is one PUT too


class DownloadCache:
    """Local copies of S3 objects for this process, by (URI, entity tag), least recently used dropped
    past `MONITORING_S3_CACHE_BYTES` (default 8 GiB). A run's steps share it, so each object of the
    hour is read from S3 once however many steps read it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._root: Path | None = None
        self._entries: OrderedDict[tuple[str, str], tuple[Path, int]] = OrderedDict()
        self._lock = threading.Lock()

    def _dir(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="monitoring-s3-cache-"))
            atexit.register(shutil.rmtree, self._root, True)
        return self._root

    def staging(self) -> Path:
        return self._dir() / f".{uuid.uuid4().hex}.part"

    def get(self, obj: StoredObject) -> Path | None:
        if obj.etag is None:
            return None
        with self._lock:
            entry = self._entries.get((obj.uri, obj.etag))
            if entry is None or not entry[0].exists():
                return None
            self._entries.move_to_end((obj.uri, obj.etag))
            return entry[0]

    def add(self, obj: StoredObject, staging: Path) -> Path:
        if obj.etag is None:
            return staging  # not cacheable: a private copy the caller owns
        target = self._dir() / uuid.uuid4().hex
        os.replace(staging, target)
        with self._lock:
            self._entries[(obj.uri, obj.etag)] = (target, target.stat().st_size)
        return target

    def clear(self) -> None:
        """Forget every copy (what a new process starts with)."""
        with self._lock:
            for path, _ in self._entries.values():
                path.unlink(missing_ok=True)
            self._entries.clear()

    def trim(self, keep: Sequence[Path] = ()) -> None:
        with self._lock:
            total = sum(size for _, size in self._entries.values())
            for entry_key in list(self._entries):
                if total <= self.limit:
                    break
                path, size = self._entries[entry_key]
                if path in keep:
                    continue
                del self._entries[entry_key]
                path.unlink(missing_ok=True)
                total -= size


CACHE = DownloadCache(int(os.environ.get("MONITORING_S3_CACHE_BYTES", 8 * 2**30)))


# What selects a client from the standard chain; a client is made once per process for each (~0.3 s each).
CLIENT_ENV = (
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CA_BUNDLE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
)
_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _forget_clients() -> None:  # a forked child starts with no clients and a free lock
    global _CLIENTS_LOCK
    _CLIENTS.clear()
    _CLIENTS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_clients)


def make_s3_client() -> Any:
    """A boto3 S3 client from the standard chain (path-style addressing when a custom endpoint is set),
    shared by the process for as long as the environment that chose it is unchanged: boto3 clients are
    thread-safe, and building one costs ~0.3 s. Keyed by a digest, so no credential is kept in clear; the
    settings files are read once (a change to their contents is seen by a new process)."""
    chosen = hashlib.sha256("\0".join(os.environ.get(n, "") for n in CLIENT_ENV).encode()).hexdigest()
    with _CLIENTS_LOCK:
        if chosen not in _CLIENTS:
            _CLIENTS[chosen] = _new_s3_client()
        return _CLIENTS[chosen]


def _new_s3_client() -> Any:
    import boto3
    from botocore.config import Config

    custom_endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        s3={"addressing_style": "path" if custom_endpoint else "auto"},
    )
    return boto3.session.Session().client("s3", config=config)


def open_store(location: str) -> ObjectStore:
    """A store for a location from the config: `s3://bucket/prefix` or a local folder."""
    if location.startswith("s3://"):
        return S3ObjectStore(location)
    return LocalObjectStore(location)


def _local_file(location: str) -> Path:
    path = Path(location)
    if not path.is_file():
        raise ObjectStoreError(f"{location}: no such file")
    return path


def _s3_file(location: str) -> tuple[S3ObjectStore, StoredObject]:
    parent, _, name = location.rpartition("/")
    store = S3ObjectStore(parent)
    found = store.head(name)
    if found is None:
        raise ObjectStoreError(f"{location}: no such object")
    return store, found


def fetch_file(location: str) -> Path:
    """A local path for a single file given as a local path or an s3:// URI (downloaded)."""
    if not location.startswith("s3://"):
        return _local_file(location)
    store, found = _s3_file(location)
    return store.fetch([found])[0]


def file_version(location: str) -> str:
    """What changes when the file at a local path or s3:// URI is replaced: its size and modification
    time, or S3's entity tag. A missing file is an error naming it."""
    if not location.startswith("s3://"):
        stat = _local_file(location).stat()
        return f"{stat.st_size}-{stat.st_mtime_ns}"
    _, found = _s3_file(location)
    return found.etag or f"{found.size}-{found.modified}"
