"""Where messages go: the JSON-lines log (always on), a webhook (JSON or Slack-compatible), email.

Secrets (the webhook URL, SMTP credentials) are read from the environment variables the config
names, at send time; they never appear in errors, logs, metadata or the alerts table.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import smtplib
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from monitoring_pipeline.alerts.engine import text
from monitoring_pipeline.config import EmailSink, SinkConfig, WebhookSink


class SinkError(RuntimeError):
    """A delivery failed; the message is safe to log (no secrets). `permanent`: retrying the same message
    cannot succeed (the receiver refused it), so the delivery is marked failed at once."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


# HTTP statuses worth retrying: the receiver is overloaded or timed out, not refusing the message
RETRYABLE_STATUS = frozenset({408, 425, 429})


def append_log(path: str, msg: Mapping[str, Any], offset: int | None = None) -> int:
    """One JSON line per alert, with its message id (the log is complete: nothing is summarised).
    With `offset`, the file is first cut back to it: a retry of a write that a crash interrupted
    rewrites that write instead of adding its lines twice. Returns the offset the lines start at."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(
        json.dumps({**alert, "message_id": msg["message_id"]}, sort_keys=True) + "\n"
        for alert in msg["alerts"]
    )
    with open(target, "a+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        start = size if offset is None or offset > size else offset
        handle.truncate(start)
        try:
            handle.write(lines.encode())
            handle.flush()
            os.fsync(handle.fileno())
        except OSError:  # a full disk, say: no half-written lines stay behind for the retry to repeat
            handle.truncate(start)
            raise
    return start


def log_size(path: str) -> int:
    target = Path(path)
    return target.stat().st_size if target.exists() else 0


CREDENTIALS_IN_URL = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s]*@", re.IGNORECASE)


def redact(text: str, env_names: Iterable[str]) -> str:
    """`text` (an error from a failed run, say) without the values of these environment variables and
    without passwords in URLs, so it can go into an alert."""
    for name in env_names:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, f"<${name}>")
    return CREDENTIALS_IN_URL.sub(r"\g<head>:***@", text)


def secret_names(sinks: Mapping[str, SinkConfig]) -> list[str]:
    """The environment variables the sinks read their secrets from."""
    names = []
    for sink in sinks.values():
        for field in ("url_env", "username_env", "password_env"):
            if getattr(sink, field, None):
                names.append(getattr(sink, field))
    return names


def _secret(name: str | None, field: str, sink: str) -> str:
    value = os.environ.get(name) if name else None
    if not value:
        raise SinkError(f"sink {sink!r}: environment variable {name!r} ({field}) is not set")
    return value


def _checked_url(sink: WebhookSink) -> str:
    """The URL in the sink's variable, if it is an http(s) URL with a host; the error never shows it."""
    url = _secret(sink.url_env, "url_env", sink.name)
    try:
        parts = urllib.parse.urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in url
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        valid = False
    if not valid:
        raise SinkError(
            f"sink {sink.name!r}: ${sink.url_env} does not hold an http(s) URL with a host", permanent=False
        )
    return url


def _reason(exc: BaseException) -> str:
    """What went wrong, in words that never include the URL, its host or its path: the error's kind
    and its errno text, never str(exc)."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error ({reason.reason or type(reason).__name__})"
    if isinstance(reason, socket.gaierror):
        return f"DNS lookup failed ({reason.strerror})"
    if isinstance(reason, OSError) and reason.strerror:
        return f"{type(reason).__name__}: {reason.strerror}"
    return type(reason).__name__


def post_webhook(sink: WebhookSink, msg: Mapping[str, Any]) -> None:
    url = _checked_url(sink)
    # Slack incoming webhooks take {"text": ...} only; the idempotency key is then in the header alone
    body = {"text": text(msg)} if sink.format == "slack" else {**msg, "text": text(msg)}
    headers = {"Content-Type": "application/json", "Idempotency-Key": msg["message_id"]}
    try:
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
        with urllib.request.urlopen(request, timeout=sink.timeout_seconds) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        permanent = 400 <= exc.code < 500 and exc.code not in RETRYABLE_STATUS
        raise SinkError(f"sink {sink.name!r}: HTTP {exc.code}", permanent=permanent) from None
    except (ValueError, http.client.InvalidURL):
        raise SinkError(f"sink {sink.name!r}: ${sink.url_env} does not hold a valid URL") from None
    except http.client.HTTPException as exc:  # a malformed answer: its kind, never its text
        raise SinkError(f"sink {sink.name!r}: {type(exc).__name__}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SinkError(f"sink {sink.name!r}: {_reason(exc)}") from None


def send_email(sink: EmailSink, msg: Mapping[str, Any]) -> None:
    email = EmailMessage()
    email["Subject"], email["From"] = f"[monitoring] {msg['title']}", sink.sender
    email["To"] = ", ".join(sink.to)
    email["Message-ID"] = f"<{msg['message_id']}@monitoring-pipeline>"  # receivers' dedup key
    email.set_content(text(msg))
    try:
        with smtplib.SMTP(sink.host, sink.port, timeout=sink.timeout_seconds) as smtp:
            if sink.starttls:
                smtp.starttls()
            if sink.username_env:
                smtp.login(
                    _secret(sink.username_env, "username_env", sink.name),
                    _secret(sink.password_env, "password_env", sink.name),
                )
            smtp.send_message(email)
    except smtplib.SMTPResponseException as exc:  # the server's code; its text may echo the login
        permanent = 500 <= exc.smtp_code < 600
        raise SinkError(f"sink {sink.name!r}: SMTP {exc.smtp_code}", permanent=permanent) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SinkError(f"sink {sink.name!r}: {_reason(exc)}") from None


# How each sink type sends: one entry per tag of config.SinkConfig (a test keeps them equal); the
# config rejects any other type when it is read.
SENDERS: Mapping[str, Callable[[Any, Mapping[str, Any]], None]] = {
    "webhook": post_webhook,
    "email": send_email,
}


def deliver(sink: SinkConfig, msg: Mapping[str, Any]) -> None:
    SENDERS[sink.type](sink, msg)
