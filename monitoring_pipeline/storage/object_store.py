"""One interface over the places objects live: a local folder (the default) and S3 through boto3.

Keys are '/'-separated and relative to the store's root (a folder, or `s3://bucket/prefix`).
Writes replace atomically: a local temp file renamed into place, or a single S3 PUT, so a reader
sees the old object or the new one, never half of one.
"""

from __future__ import annotations

import os
import shutil
import uuid
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


class ObjectStore(Protocol):
    root_uri: str

    def list(self, prefix: str) -> list[StoredObject]: ...

    def head(self, key: str) -> StoredObject | None: ...

    def fetch(self, objects: Sequence[StoredObject], workdir: Path) -> list[Path]: ...

    def put_file(self, local: Path, key: str) -> str: ...

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

    def fetch(self, objects: Sequence[StoredObject], workdir: Path) -> list[Path]:
        return [self.root / o.key for o in objects]

    def put_file(self, local: Path, key: str) -> str:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        shutil.copyfile(local, staging)
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
                    found.append(StoredObject(key, int(item["Size"]), uri, item.get("LastModified")))
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
        return StoredObject(key, int(meta["ContentLength"]), self.uri(key), meta.get("LastModified"))

    def fetch(self, objects: Sequence[StoredObject], workdir: Path) -> list[Path]:
        paths = []
        for index, obj in enumerate(objects):
            local = workdir / f"{index:05d}-{obj.key.rsplit('/', 1)[-1]}"
            try:
                self.client.download_file(self.bucket, self._full(obj.key), str(local))
            except Exception as exc:
                raise ObjectStoreError(f"cannot download {obj.uri}: {exc}") from exc
            paths.append(local)
        return paths

    def put_file(self, local: Path, key: str) -> str:
        try:
            self.client.upload_file(str(local), self.bucket, self._full(key))
        except Exception as exc:
            raise ObjectStoreError(f"cannot upload to {self.uri(key)}: {exc}") from exc
        return self.uri(key)

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._full(key))
        except Exception as exc:
            raise ObjectStoreError(f"cannot delete {self.uri(key)}: {exc}") from exc


def make_s3_client() -> Any:
    """A boto3 S3 client from the standard chain; path-style addressing when a custom endpoint is set."""
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


def fetch_file(location: str, workdir: Path) -> Path:
    """A local path for a single file given as a local path or an s3:// URI (downloaded)."""
    if not location.startswith("s3://"):
        if not Path(location).is_file():
            raise ObjectStoreError(f"{location}: no such file")
        return Path(location)
    parent, _, name = location.rpartition("/")
    store = S3ObjectStore(parent)
    found = store.head(name)
    if found is None:
        raise ObjectStoreError(f"{location}: no such object")
    return store.fetch([found], workdir)[0]
