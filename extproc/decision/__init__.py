"""Decision: request facts + signals → a tier, through an ordered chain of rules."""

from extproc.decision.model import Decision, RequestFacts, Verdict
from extproc.decision.pipeline import DecisionPipeline, build_pipeline

__all__ = ["Decision", "DecisionPipeline", "RequestFacts", "Verdict", "build_pipeline"]
