"""A real S3-protocol server on loopback (moto's server mode) with credentials enforced: requests are
authenticated against IAM users and their policies, as on AWS. Two users: `pipeline` may do anything
in the bucket; `no-get` may list and write but every GetObject is denied (a 403 mid-run).

The server runs in a process of its own (`python -m monitoring_pipeline_tests.s3`), as a real S3 would:
in the test's process its request handling shared the interpreter lock with the pipeline it served,
and a run on S3 took twice as long as on the local store. Its request log is read over HTTP, at a path
no bucket can have (`/_requests`)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3

BUCKET = "serving-logs"
LOG_PATH = "/_requests"  # bucket names cannot start with "_"


@dataclass(frozen=True)
class Credentials:
    key_id: str
    secret: str

    def env(self, endpoint: str) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": self.key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": "us-east-1",
        }


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    pipeline: Credentials
    no_get: Credentials
    log: RequestLogClient


class RequestLog:
    """The server's request log: method, path and response bytes of every request (GETs and ranges),
    answered as JSON at LOG_PATH (`?since=<mark>&part=<path part>`: bytes sent by GETs since then)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        if environ["PATH_INFO"] == LOG_PATH:
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            since, part = int(query.get("since", ["0"])[0]), query.get("part", [""])[0]
            with self._lock:
                rows = self.requests[since:]
                mark = len(self.requests)
            read = sum(n for method, path, n in rows if method == "GET" and part in path)
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"mark": mark, "bytes_read": read}).encode()]
        body = list(self.app(environ, start_response))
        with self._lock:
            self.requests.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], sum(map(len, body))))
        return body


@dataclass(frozen=True)
class RequestLogClient:
    endpoint: str

    def _get(self, since: int = 0, part: str = "") -> dict[str, int]:
        query = urllib.parse.urlencode({"since": since, "part": part})
        with urllib.request.urlopen(f"{self.endpoint}{LOG_PATH}?{query}", timeout=30) as response:
            return json.loads(response.read())

    def mark(self) -> int:
        return self._get()["mark"]

    def bytes_read(self, since: int, path_part: str = "") -> int:
        """Bytes sent by GET requests since `mark()` for paths containing `path_part`."""
        return self._get(since, path_part)["bytes_read"]


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ALLOW_ALL = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
DENY_GET = {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"}


def _user(iam: object, name: str, policy: str) -> Credentials:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


@contextmanager
def running_s3() -> Iterator[S3Server]:
    """The server in a process of its own; stopped (its whole process group) on exit."""
    from monitoring_pipeline_tests.helpers import stop_process_group  # (not imported by the server)

    proc = subprocess.Popen(
        [sys.executable, "-m", "monitoring_pipeline_tests.s3"],
        cwd=Path(__file__).resolve().parents[1],
        stdin=subprocess.PIPE,  # closed when this process ends, however it ends: the server then exits
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        line = proc.stdout.readline()  # the server's address and users, once it serves with auth on
        if not line:
            raise RuntimeError(f"the S3 server exited before it started (exit code {proc.wait()})")
        ready = json.loads(line)
        yield S3Server(
            ready["endpoint"],
            Credentials(**ready["pipeline"]),
            Credentials(**ready["no_get"]),
            RequestLogClient(ready["endpoint"]),
        )
    finally:
        stop_process_group(proc, grace=5)


def serve() -> None:
    """moto's server application behind werkzeug (as ThreadedMotoServer runs it), wrapped in a request
    log: create the users and the bucket, enforce auth, print one JSON line, serve until killed or until
    its standard input closes (the test process ended, even by SIGKILL)."""
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request
    server = make_server(
        "127.0.0.1", 0, RequestLog(DomainDispatcherApplication(create_backend_app)), threaded=True
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    bootstrap = {"aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"}
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", **bootstrap)
    pipeline = _user(iam, "pipeline", _policy(ALLOW_ALL))
    no_get = _user(iam, "no-get", _policy(ALLOW_ALL, DENY_GET))
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **bootstrap).create_bucket(
        Bucket=BUCKET
    )
    _enforce_auth()  # from now on every request is signed by a known user and checked against its policy
    print(
        json.dumps({"endpoint": endpoint, "pipeline": asdict(pipeline), "no_get": asdict(no_get)}), flush=True
    )
    sys.stdin.read()  # until the test process that started it is gone
    os._exit(0)


def _enforce_auth() -> None:
    """What moto's `/moto-api/reset-auth` does, set directly in the server's process."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0


if __name__ == "__main__":
    serve()
