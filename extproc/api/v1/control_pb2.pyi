from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FeedbackRequest(_message.Message):
    __slots__ = ("request_id", "score")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    score: float
    def __init__(self, request_id: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class FeedbackReply(_message.Message):
    __slots__ = ("accepted", "reason", "rule", "arm")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    reason: str
    rule: str
    arm: str
    def __init__(self, accepted: _Optional[bool] = ..., reason: _Optional[str] = ..., rule: _Optional[str] = ..., arm: _Optional[str] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("path", "body", "headers")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PATH_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    path: str
    body: bytes
    headers: _containers.ScalarMap[str, str]
    def __init__(self, path: _Optional[str] = ..., body: _Optional[bytes] = ..., headers: _Optional[_Mapping[str, str]] = ...) -> None: ...

class RuleTrace(_message.Message):
    __slots__ = ("rule", "decided", "tier", "reason", "error")
    RULE_FIELD_NUMBER: _ClassVar[int]
    DECIDED_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    rule: str
    decided: bool
    tier: str
    reason: str
    error: str
    def __init__(self, rule: _Optional[str] = ..., decided: _Optional[bool] = ..., tier: _Optional[str] = ..., reason: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class ExplainReply(_message.Message):
    __slots__ = ("tier", "cluster", "model", "rule", "reason", "score", "dimensions", "arm", "trace", "error")
    class DimensionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TIER_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    tier: str
    cluster: str
    model: str
    rule: str
    reason: str
    score: float
    dimensions: _containers.ScalarMap[str, float]
    arm: str
    trace: _containers.RepeatedCompositeFieldContainer[RuleTrace]
    error: str
    def __init__(self, tier: _Optional[str] = ..., cluster: _Optional[str] = ..., model: _Optional[str] = ..., rule: _Optional[str] = ..., reason: _Optional[str] = ..., score: _Optional[float] = ..., dimensions: _Optional[_Mapping[str, float]] = ..., arm: _Optional[str] = ..., trace: _Optional[_Iterable[_Union[RuleTrace, _Mapping]]] = ..., error: _Optional[str] = ...) -> None: ...

class GetStateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TierState(_message.Message):
    __slots__ = ("tier", "latency_ema_ms", "requests", "errors", "in_flight", "p95_ms", "circuit")
    TIER_FIELD_NUMBER: _ClassVar[int]
    LATENCY_EMA_MS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    P95_MS_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    tier: str
    latency_ema_ms: float
    requests: int
    errors: int
    in_flight: int
    p95_ms: float
    circuit: str
    def __init__(self, tier: _Optional[str] = ..., latency_ema_ms: _Optional[float] = ..., requests: _Optional[int] = ..., errors: _Optional[int] = ..., in_flight: _Optional[int] = ..., p95_ms: _Optional[float] = ..., circuit: _Optional[str] = ...) -> None: ...

class ArmState(_message.Message):
    __slots__ = ("arm", "pulls", "mean_reward")
    ARM_FIELD_NUMBER: _ClassVar[int]
    PULLS_FIELD_NUMBER: _ClassVar[int]
    MEAN_REWARD_FIELD_NUMBER: _ClassVar[int]
    arm: str
    pulls: float
    mean_reward: float
    def __init__(self, arm: _Optional[str] = ..., pulls: _Optional[float] = ..., mean_reward: _Optional[float] = ...) -> None: ...

class BanditState(_message.Message):
    __slots__ = ("rule", "arms")
    RULE_FIELD_NUMBER: _ClassVar[int]
    ARMS_FIELD_NUMBER: _ClassVar[int]
    rule: str
    arms: _containers.RepeatedCompositeFieldContainer[ArmState]
    def __init__(self, rule: _Optional[str] = ..., arms: _Optional[_Iterable[_Union[ArmState, _Mapping]]] = ...) -> None: ...

class StateReply(_message.Message):
    __slots__ = ("replica", "tiers", "bandits", "config_version")
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    BANDITS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    replica: str
    tiers: _containers.RepeatedCompositeFieldContainer[TierState]
    bandits: _containers.RepeatedCompositeFieldContainer[BanditState]
    config_version: str
    def __init__(self, replica: _Optional[str] = ..., tiers: _Optional[_Iterable[_Union[TierState, _Mapping]]] = ..., bandits: _Optional[_Iterable[_Union[BanditState, _Mapping]]] = ..., config_version: _Optional[str] = ...) -> None: ...
