"""Where messages go: the JSON-lines log (always on), a webhook (JSON or Slack-compatible), email.

Secrets (the webhook URL, SMTP credentials) are read from the environment variables the config
names, at send time; they never appear in errors, logs, metadata or the alerts table.
"""

from __future__ import annotations

import http.client
import json
import os
import smtplib
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from monitoring_pipeline.alerts.engine import text
from monitoring_pipeline.config import EmailSink, SinkConfig, WebhookSink


class SinkError(RuntimeError):
    """A delivery failed; the message is safe to log (no secrets)."""


def append_log(path: str, msg: Mapping[str, Any]) -> None:
    """One JSON line per alert, with its message id (the log is complete: nothing is summarised)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for alert in msg["alerts"]:
            handle.write(json.dumps({**alert, "message_id": msg["message_id"]}, sort_keys=True) + "\n")


def _secret(name: str | None, field: str, sink: str) -> str:
    value = os.environ.get(name) if name else None
    if not value:
        raise SinkError(f"sink {sink!r}: environment variable {name!r} ({field}) is not set")
    return value


def post_webhook(sink: WebhookSink, msg: Mapping[str, Any]) -> None:
    url = _secret(sink.url_env, "url_env", sink.name)
    # Slack incoming webhooks take {"text": ...}
    body = {"text": text(msg)} if sink.format == "slack" else {**msg, "text": text(msg)}
    try:  # a URL without a scheme fails here, with the URL in the message: never let it out
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
        )
    except ValueError:
        raise SinkError(f"sink {sink.name!r}: the URL in ${sink.url_env} is not an http(s) URL") from None
    try:
        with urllib.request.urlopen(request, timeout=sink.timeout_seconds) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise SinkError(f"sink {sink.name!r}: HTTP {exc.code}") from None
    except (ValueError, http.client.InvalidURL):
        raise SinkError(f"sink {sink.name!r}: the URL in ${sink.url_env} is not valid") from None
    except http.client.HTTPException as exc:  # a malformed answer: its kind, never its text
        raise SinkError(f"sink {sink.name!r}: {type(exc).__name__}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SinkError(
            f"sink {sink.name!r}: {type(reason).__name__}: {str(reason).replace(url, '<url>')}"
        ) from None


def send_email(sink: EmailSink, msg: Mapping[str, Any]) -> None:
    email = EmailMessage()
    email["Subject"], email["From"] = f"[monitoring] {msg['title']}", sink.sender
    email["To"] = ", ".join(sink.to)
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
    except (smtplib.SMTPException, OSError) as exc:
        raise SinkError(f"sink {sink.name!r}: {type(exc).__name__}: {exc}") from None


# How each sink type sends: one entry per tag of config.SinkConfig (a test keeps them equal); the
# config rejects any other type when it is read.
SENDERS: Mapping[str, Callable[[Any, Mapping[str, Any]], None]] = {
    "webhook": post_webhook,
    "email": send_email,
}


def deliver(sink: SinkConfig, msg: Mapping[str, Any]) -> None:
    SENDERS[sink.type](sink, msg)
