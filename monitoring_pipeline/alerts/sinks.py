"""Where messages go: the JSON-lines log (always on), a webhook (JSON or Slack-compatible), email.

Secrets (the webhook URL, SMTP credentials) are read from the environment variables the config
names, at send time; they never appear in errors, logs, metadata or the alerts table.
"""

from __future__ import annotations

import json
import os
import smtplib
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from monitoring_pipeline.alerts.engine import text
from monitoring_pipeline.config import SinkConfig


class SinkError(RuntimeError):
    """A delivery failed; the message is safe to log (no secrets)."""


def append_log(path: str, msg: Mapping[str, Any]) -> None:
    """One JSON line per alert, with its message id (the log is complete: nothing is summarised)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for alert in msg["alerts"]:
            handle.write(json.dumps({**alert, "message_id": msg["message_id"]}, sort_keys=True) + "\n")


def _secret(settings: Mapping[str, Any], key: str, sink: str) -> str:
    name = settings.get(key)
    value = os.environ.get(str(name)) if name else None
    if not value:
        raise SinkError(f"sink {sink!r}: environment variable {name!r} ({key}) is not set")
    return value


def post_webhook(sink: SinkConfig, msg: Mapping[str, Any]) -> None:
    url = _secret(sink.settings, "url_env", sink.name)
    if sink.settings.get("format", "json") == "slack":
        body = {"text": text(msg)}  # Slack incoming webhooks take {"text": ...}
    else:
        body = {**msg, "text": text(msg)}
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(
            request, timeout=float(sink.settings.get("timeout_seconds", 5))
        ) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise SinkError(f"sink {sink.name!r}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SinkError(
            f"sink {sink.name!r}: {type(reason).__name__}: {str(reason).replace(url, '<url>')}"
        ) from None


def send_email(sink: SinkConfig, msg: Mapping[str, Any]) -> None:
    s = sink.settings
    email = EmailMessage()
    email["Subject"], email["From"] = f"[monitoring] {msg['title']}", s["sender"]
    email["To"] = ", ".join(s["to"]) if isinstance(s["to"], list) else str(s["to"])
    email.set_content(text(msg))
    try:
        with smtplib.SMTP(
            s["host"], int(s.get("port", 25)), timeout=float(s.get("timeout_seconds", 10))
        ) as smtp:
            if s.get("starttls"):
                smtp.starttls()
            if s.get("username_env"):
                smtp.login(_secret(s, "username_env", sink.name), _secret(s, "password_env", sink.name))
            smtp.send_message(email)
    except (smtplib.SMTPException, OSError) as exc:
        raise SinkError(f"sink {sink.name!r}: {type(exc).__name__}: {exc}") from None


def deliver(sink: SinkConfig, msg: Mapping[str, Any]) -> None:
    (post_webhook if sink.type == "webhook" else send_email)(sink, msg)
