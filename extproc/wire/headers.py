"""Reading Envoy header values (raw_value in recent Envoy, value in older ones)."""

from __future__ import annotations


def header_text(header: object) -> str:
    """The text of an Envoy `HeaderValue`."""
    raw: bytes = header.raw_value  # type: ignore[attr-defined]
    if raw:
        return raw.decode("utf-8", "replace")
    return header.value  # type: ignore[attr-defined, no-any-return]
