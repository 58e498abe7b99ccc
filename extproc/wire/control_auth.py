"""Who may call the control API (feedback, explain, state): a bearer token, or nobody.

Feedback changes what bandits learn and Explain/GetState show routing internals, so the API
is closed unless a token is configured (`server.control_token_file`, e.g. a mounted Secret,
or the `EXTPROC_CONTROL_TOKEN` environment variable). Callers send
`authorization: Bearer <token>`; the comparison takes constant time. Only the local demo stack
(`extproc-router up`, `serve --insecure-control`) runs it open.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from extproc.config.model import ServerConfig

TOKEN_ENV = "EXTPROC_CONTROL_TOKEN"
MIN_TOKEN_CHARS = 16


class ControlAuthError(ValueError):
    """The configured token can't be used (unreadable file, too short)."""


class ControlAuth:
    """Decides whether a call's metadata carries the control token."""

    def __init__(self, open_access: bool, token: str | None) -> None:
        self.open = open_access
        self._expected = None if token is None else f"Bearer {token}".encode()

    @classmethod
    def from_config(cls, cfg: ServerConfig) -> ControlAuth:
        if cfg.control_auth == "none":
            return cls(True, None)
        token = os.environ.get(TOKEN_ENV) or None
        if cfg.control_token_file:
            try:
                token = Path(cfg.control_token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ControlAuthError(
                    f"server.control_token_file: cannot read {cfg.control_token_file}: "
                    f"{exc.strerror or exc}"
                ) from None
        if token is not None and len(token) < MIN_TOKEN_CHARS:
            raise ControlAuthError(f"the control token must have at least {MIN_TOKEN_CHARS} "
                                   "characters")
        return cls(False, token)

    @property
    def configured(self) -> bool:
        return self.open or self._expected is not None

    def allows(self, metadata: tuple[tuple[str, str | bytes], ...] | None) -> bool:
        if self.open:
            return True
        if self._expected is None or not metadata:
            return False
        for key, value in metadata:
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
                return hmac.compare_digest(given, self._expected)
        return False

    def refusal(self) -> str:
        if self._expected is None:
            return (f"the control API is closed: set server.control_token_file or {TOKEN_ENV}, "
                    "and send 'authorization: Bearer <token>'")
        return "missing or wrong 'authorization: Bearer <token>'"
