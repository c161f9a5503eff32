"""A webhook whose URL (read from the environment at send time) is malformed fails as that sink's
SinkError, never as a raw ValueError carrying the URL (which escaped the alert tick before)."""

from __future__ import annotations

import pytest

from monitoring_pipeline.alerts.sinks import SinkError, post_webhook
from monitoring_pipeline.config import WebhookSink

MESSAGE = {"title": "t", "alerts": [], "summarized": [], "message_id": "m"}


@pytest.mark.parametrize(
    "url",
    ["hooks.slack.example/services/T0/B0/XXXXSECRET", "http://exa mple.com/XXXXSECRET", "ftp://x/XXXXSECRET"],
)
def test_a_malformed_webhook_url_is_a_sink_error_without_the_url(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("CHAT_URL", url)
    sink = WebhookSink(name="chat", type="webhook", url_env="CHAT_URL", timeout_seconds=1.0)
    with pytest.raises(SinkError) as info:
        post_webhook(sink, MESSAGE)
    assert "XXXXSECRET" not in str(info.value) and "sink 'chat'" in str(info.value)
