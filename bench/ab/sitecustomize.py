"""A/B probes for the router process, for `bench/overhead.py` runs (never used in production).

Put this directory on PYTHONPATH and pick one change with EXTPROC_AB; every Python process
of the run imports it, but only the router (the process that imports extproc.wire.server)
is changed. Compare the routed scenario with its tuned twin from the same run:

    EXTPROC_AB=canned PYTHONPATH=bench/ab python bench/overhead.py \\
        --scenarios trivial-fast,routed-fast --concurrency 16 --duration 5 --rounds 3

(the routing checks expect the real decisions, so variants that answer `tier_low` for every
request fail them: add `--skip-checks`).

Variants:
  canned   the stream handler answers every message with a fixed tier_low decision
  canned2  the same, alternating tier_low and tier_high (as the routed bench traffic does)
  parse    the body is parsed (parse_body), then the fixed answer
  score    parse + complexity score, then the fixed answer
  double   the full decision is made twice per body message (a second handler first)
  nolog    decision log off
  noals    access-log entries are received but not recorded
  nogc     the cyclic garbage collector is disabled in the router process
"""

from __future__ import annotations

import builtins
import os
from typing import Any

_VARIANT = os.environ.get("EXTPROC_AB", "")
_import = builtins.__import__
_patched = False


def _apply(variant: str) -> None:
    from extproc.parse.openai import parse_body
    from extproc.router import Router
    from extproc.wire import access_log, stream

    handle = stream.StreamHandler.handle

    flip = [0]

    def alternating(self: Any, request: Any) -> Any:
        flip[0] ^= 1
        tier = "tier_high" if flip[0] else "tier_low"
        return self._router.responses.route_by_metadata(tier, "ab_canned2", None)

    def fixed(self: Any, request: Any) -> Any:
        if variant in ("parse", "score") and request.HasField("request_body"):
            chat = parse_body(request.request_body.body, "chat", 1 << 24)
            if variant == "score" and not isinstance(chat, Exception) and hasattr(chat, "text"):
                self._router.scorer.score(chat.text)
        return self._router.responses.route_by_metadata("tier_low", "ab_" + variant, None)

    def twice(self: Any, request: Any) -> Any:
        if request.HasField("request_body"):
            handle(stream.StreamHandler(self._router), request)
        return handle(self, request)

    if variant == "canned2":
        stream.StreamHandler.handle = alternating  # type: ignore[method-assign]
    elif variant in ("canned", "parse", "score"):
        stream.StreamHandler.handle = fixed  # type: ignore[method-assign]
    elif variant == "double":
        stream.StreamHandler.handle = twice  # type: ignore[method-assign]
    elif variant == "nogc":
        import gc

        gc.disable()
    elif variant == "noals":
        access_log.record_entry = lambda router, entry: True
    elif variant == "nolog":
        init = Router.__init__

        def no_log(self: Any, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **kwargs)
            self.decision_log = None

        Router.__init__ = no_log  # type: ignore[method-assign]
    else:
        raise SystemExit(f"EXTPROC_AB={variant!r}: unknown variant")


def _hook(name: str, *args: Any, **kwargs: Any) -> Any:
    global _patched
    module = _import(name, *args, **kwargs)
    if not _patched and name == "extproc.wire.server":
        _patched = True
        _apply(_VARIANT)
    return module


if _VARIANT:
    builtins.__import__ = _hook
