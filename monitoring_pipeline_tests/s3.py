"""A real S3-protocol server on loopback (moto's server mode) with credentials enforced: requests are
authenticated against IAM users and their policies, as on AWS. Two users: `pipeline` may do anything
in the bucket; `no-get` may list and write but every GetObject is denied (a 403 mid-run)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from monitoring_pipeline_tests.helpers import free_port

BUCKET = "serving-logs"


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
    log: RequestLog


class RequestLog:
    """The server's request log: method, path and response bytes of every request (GETs and ranges)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        body = list(self.app(environ, start_response))
        with self._lock:
            self.requests.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], sum(map(len, body))))
        return body

    def mark(self) -> int:
        with self._lock:
            return len(self.requests)

    def bytes_read(self, since: int, path_part: str = "") -> int:
        """Bytes sent by GET requests since `mark()` for paths containing `path_part`."""
        with self._lock:
            rows = self.requests[since:]
        return sum(n for method, path, n in rows if method == "GET" and path_part in path)


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
    """moto's server application behind werkzeug (as ThreadedMotoServer runs it), wrapped in a request log."""
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    port = free_port()
    log = RequestLog(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, log, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        bootstrap = {"aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"}
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", **bootstrap)
        pipeline = _user(iam, "pipeline", _policy(ALLOW_ALL))
        no_get = _user(iam, "no-get", _policy(ALLOW_ALL, DENY_GET))
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **bootstrap)
        s3.create_bucket(Bucket=BUCKET)
        _enforce_auth(
            True
        )  # from now on every request is signed by a known user and checked against its policy
        yield S3Server(endpoint, pipeline, no_get, log)
    finally:
        _enforce_auth(False)
        server.shutdown()


def _enforce_auth(on: bool) -> None:
    """What moto's `/moto-api/reset-auth` does (the server runs in this process, so set it directly)."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0 if on else float("inf")
    ActionAuthenticatorMixin.request_count = 0
