"""Typed `envoy-data-plane` objects → the plain dict Envoy reads, with exact field names.

betterproto2's own `to_dict` re-cases Python attribute names, which is wrong for proto
fields with digits (`consecutive_5xx` becomes `consecutive_5_xx` / `consecutive5Xx`, both
unknown to Envoy). So the message goes through its wire bytes into the official protobuf
classes (`xds-protos`, already a dependency) and `json_format` writes proto field names.
A round trip back to the typed object checks that nothing was dropped on the way (a field
newer than the installed xds-protos would be): if it was, this raises rather than emit a
config that silently lacks it.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

# The official classes of every message packed into an Any, so json_format can expand them.
import envoy.extensions.access_loggers.grpc.v3.als_pb2
import envoy.extensions.clusters.aggregate.v3.cluster_pb2
import envoy.extensions.filters.http.buffer.v3.buffer_pb2
import envoy.extensions.filters.http.ext_proc.v3.ext_proc_pb2
import envoy.extensions.filters.http.router.v3.router_pb2
import envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2
import envoy.extensions.http.early_header_mutation.header_mutation.v3.header_mutation_pb2
import envoy.extensions.retry.host.previous_hosts.v3.previous_hosts_pb2
import envoy.extensions.retry.priority.previous_priorities.v3.previous_priorities_config_pb2
import envoy.extensions.upstreams.http.v3.http_protocol_options_pb2  # noqa: F401
from envoy.config.bootstrap.v3.bootstrap_pb2 import Bootstrap as BootstrapPb
from google.protobuf import json_format

with warnings.catch_warnings():  # see extproc.envoygen.build
    warnings.simplefilter("ignore", DeprecationWarning)
    from envoy_data_plane.envoy.config.bootstrap.v3 import Bootstrap


class SerializationDrift(RuntimeError):
    """The typed config holds something the installed protobuf classes cannot express."""


def bootstrap_to_dict(bootstrap: Bootstrap) -> dict[str, Any]:
    """The bootstrap as a dict with proto field names (what Envoy's YAML loader expects)."""
    message = BootstrapPb.FromString(bytes(bootstrap))
    result = _plain(json_format.MessageToDict(message, preserving_proto_field_name=True))
    if not isinstance(result, dict):
        raise SerializationDrift("json_format did not return an object")
    back = BootstrapPb()
    json_format.ParseDict(copy.deepcopy(result), back)  # ParseDict reorders "@type" keys
    if Bootstrap.parse(back.SerializeToString()).to_dict() != bootstrap.to_dict():
        raise SerializationDrift(
            "the generated Envoy config lost fields on the way to YAML: envoy-data-plane and "
            "xds-protos disagree; upgrade xds-protos"
        )
    return result


def _plain(value: Any) -> Any:
    """Plain dicts (json_format returns OrderedDicts for Any), "@type" first in each."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: item[0] != "@type")
        return {key: _plain(item) for key, item in items}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
