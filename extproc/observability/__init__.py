"""Metrics, logs and the HTTP admin endpoint."""
