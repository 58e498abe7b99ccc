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
from extproc.learn.embedding import embedding_name
from extproc.learn.model import LearnedScorer, ModelFileError, load_model

log = logging.getLogger("extproc.learned")

_Stamp = tuple[int, int, int] | None


def _stamp(path: Path) -> _Stamp:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def check_embedding(model: LearnedScorer, classifier_model: str | None) -> None:
    """A model that reads sentence embeddings must read the semantic layer's."""
    if not model.needs_vector:
        return
    wanted = model.spec.embedding
    have = embedding_name(classifier_model)
    if wanted != have:
        raise ModelFileError(
            f"the model was trained on {wanted!r} embeddings but classifier.model gives "
            f"{have!r}: set classifier.model to match, or retrain"
        )


class ModelHandle:
    """The model currently loaded from one file."""

    def __init__(self, path: Path, classifier_model: str | None = None) -> None:
        self.path = path
        self.classifier_model = classifier_model
        self._stamp = _stamp(path)
        self.model: LearnedScorer = self._load()  # ModelFileError refuses the config

    def _load(self) -> LearnedScorer:
        model = load_model(self.path)
        check_embedding(model, self.classifier_model)
        return model

    async def reload_if_changed(self) -> bool | None:
        """True: a new model is in; False: a changed file was refused; None: unchanged."""
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return None
        self._stamp = stamp  # a bad file is tried once, not on every poll
        try:
            model = await asyncio.to_thread(self._load)
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

    def __init__(self, cfg: LearnedRule, classifier_model: str | None = None) -> None:
        self.handle = ModelHandle(Path(cfg.model), classifier_model)
        self.reload_interval_s = cfg.reload_interval_s
        self._fixed = cfg.threshold
        self._high = Verdict(cfg.above, "learned_high")
        self._low = Verdict(cfg.below, "learned_low")

    @property
    def needs_vector(self) -> bool:
        """The model reads the prompt's embedding (the router then runs its semantic layer)."""
        return self.handle.model.needs_vector

    @property
    def threshold(self) -> float:
        return self.handle.model.threshold if self._fixed is None else self._fixed

    def evaluate(self, signals: Signals) -> Verdict | None:
        chat = signals.facts.chat
        if chat is None:
            return None
        model = self.handle.model
        score = model.score(chat.text, signals.vector)
        signals.rule_score = score
        threshold = model.threshold if self._fixed is None else self._fixed
        return self._high if score >= threshold else self._low
