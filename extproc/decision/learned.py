"""The `learned` rule: route by a model fitted on outcomes (`extproc-router train`).

The model file is watched off the request path: a background task checks its size and
mtime every `reload_interval_s`, loads a changed file in a worker thread and swaps it in. A
file that fails to load is logged and counted, and the old model keeps routing.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from extproc.config.model import LearnedRule
from extproc.decision.model import Verdict
from extproc.decision.signals import Signals
from extproc.learn.model import LearnedScorer, load_model

log = logging.getLogger("extproc.learned")

_Stamp = tuple[int, int, int] | None


def _stamp(path: Path) -> _Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class ModelHandle:
    """The model currently loaded from one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = _stamp(path)
        self.model: LearnedScorer = load_model(path)  # ModelFileError refuses the config

    async def reload_if_changed(self) -> bool | None:
        """True: a new model is in; False: a changed file was refused; None: unchanged."""
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return None
        self._stamp = stamp  # a bad file is tried once, not on every poll
        try:
            model = await asyncio.to_thread(load_model, self.path)
        except Exception as exc:  # ModelFileError; any other error must not end the watcher
            log.error("learned model reload rejected; the previous model keeps routing: %s", exc)
            return False
        self.model = model
        sha = str(model.manifest.get("arrays_sha256", ""))[:12]
        log.info("learned model reloaded from %s (arrays %s, threshold %.6g)",
                 self.path, sha, model.threshold)
        return True

    async def watch(self, interval_s: float, count: Callable[[str], None]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            result = await self.reload_if_changed()
            if result is not None:
                count("applied" if result else "rejected")


class LearnedThresholdRule:
    """Predicted gain ≥ threshold → `above`; otherwise `below`. Abstains without a prompt."""

    name = "learned"

    def __init__(self, cfg: LearnedRule) -> None:
        self.handle = ModelHandle(Path(cfg.model))
        self.reload_interval_s = cfg.reload_interval_s
        self._fixed = cfg.threshold
        self._high = Verdict(cfg.above, "learned_high")
        self._low = Verdict(cfg.below, "learned_low")

    @property
    def threshold(self) -> float:
        return self.handle.model.threshold if self._fixed is None else self._fixed

    def evaluate(self, signals: Signals) -> Verdict | None:
        chat = signals.facts.chat
        if chat is None:
            return None
        model = self.handle.model
        score = model.score(chat.text)
        signals.rule_score = score
        threshold = model.threshold if self._fixed is None else self._fixed
        return self._high if score >= threshold else self._low
