"""Alerts: failed checks -> deduplicated, grouped, rate-limited messages to sinks, retried until delivered."""
