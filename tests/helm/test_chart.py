"""The Helm chart, rendered by a real `helm` for the default values and every example.

Checks the rendered objects (probes, ports against the rendered configs, security context,
modes, feature toggles) and feeds the rendered router.yaml to `extproc-router validate` and
the rendered envoy.yaml to `envoy --mode validate`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helm.chart_util import (
    CHART,
    NAMESPACE,
    RELEASE,
    VALUES_CASES,
    RenderFn,
    case_id,
    run_helm,
)

FULLNAME = f"{RELEASE}-extproc-router"
ROUTER_SVC = f"{FULLNAME}-router"
EXT_PROC_MODES = {
    "request_header_mode": "SEND",
    "request_body_mode": "BUFFERED",
    "response_header_mode": "SEND",
    "response_body_mode": "NONE",
}
CASES = pytest.mark.parametrize("values", VALUES_CASES, ids=case_id)


def values_of(values: Path | None) -> dict[str, Any]:
    """The chart's values.yaml overlaid (shallowly, enough for these checks) by `values`."""
    merged = dict(yaml.safe_load((CHART / "values.yaml").read_text()))
    if values is not None:
        for key, value in (yaml.safe_load(values.read_text()) or {}).items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return merged


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def ports(container: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container.get("ports", [])}


def listener(envoy: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        item for item in envoy["static_resources"]["listeners"] if item["name"] == name
    ]
    assert len(found) == 1, f"listener {name}"
    return found[0]


def clusters(envoy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in envoy["static_resources"]["clusters"]}


def hcm(envoy: dict[str, Any], name: str = "llm") -> dict[str, Any]:
    typed: dict[str, Any] = listener(envoy, name)["filter_chains"][0]["filters"][0]["typed_config"]
    return typed


def endpoints(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        lb["endpoint"]["address"]["socket_address"]
        for group in cluster["load_assignment"]["endpoints"]
        for lb in group["lb_endpoints"]
    ]


# --- lint and config validation ------------------------------------------------------------


@CASES
def test_helm_lint_strict(helm_bin: str, values: Path | None) -> None:
    args = ["lint", "--strict", str(CHART)] + ([] if values is None else ["-f", str(values)])
    result = run_helm(helm_bin, *args)
    assert result.returncode == 0, result.stdout + result.stderr


@CASES
def test_rendered_router_config_validates(
    render: RenderFn, values: Path | None, tmp_path: Path
) -> None:
    config = tmp_path / "router.yaml"
    text = render(values).config_text("router.yaml")
    assert text is not None
    config.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "extproc", "validate", str(config)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, f"{result.stderr}\n--- router.yaml ---\n{text}"


@CASES
def test_rendered_envoy_config_validates(
    render: RenderFn, envoy_bin: str, values: Path | None, tmp_path: Path
) -> None:
    text = render(values).config_text("envoy.yaml")
    if text is None:
        assert values_of(values)["envoy"]["enabled"] is False
        return
    config = tmp_path / "envoy.yaml"
    config.write_text(text)
    result = subprocess.run(
        [envoy_bin, "--mode", "validate", "-c", str(config), "--disable-hot-restart",
         "--log-level", "warn"],
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n--- envoy.yaml ---\n{text}"


# --- containers: probes, ports, security ---------------------------------------------------


@CASES
def test_router_container(render: RenderFn, values: Path | None) -> None:
    rendered = render(values)
    _, router = rendered.container("router")
    config = rendered.router_config()
    assert router["command"] == [
        "extproc-router", "serve", "--config", "/etc/extproc/router.yaml"
    ]
    sidecar = values_of(values).get("mode", "sidecar") == "sidecar"
    # sidecar: only Envoy in the same pod reaches the gRPC port; standalone: the network does
    assert config["server"]["listen"].startswith("127.0.0.1:" if sidecar else "0.0.0.0:")
    assert config["server"]["admin_listen"].startswith("0.0.0.0:")  # probes and Prometheus
    grpc, admin = port_of(config["server"]["listen"]), port_of(config["server"]["admin_listen"])
    assert ports(router) == {"grpc": grpc, "metrics": admin}
    # startup: the gRPC health service (standalone) or /readyz, since kubelet can't reach a
    # loopback port (sidecar); /healthz and /readyz on the admin port.
    if sidecar:
        assert "grpc" not in router["startupProbe"]
        assert router["startupProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    else:
        assert router["startupProbe"]["grpc"]["port"] == grpc
    assert router["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert router["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    mounts = {m["mountPath"] for m in router["volumeMounts"]}
    assert "/etc/extproc" in mounts


@CASES
def test_envoy_container_matches_envoy_config(render: RenderFn, values: Path | None) -> None:
    rendered = render(values)
    envoy = rendered.envoy_config()
    if envoy is None:
        assert not [c for _, c in rendered.containers() if c["name"] == "envoy"]
        return
    _, container = rendered.container("envoy")
    llm = listener(envoy, "llm")["address"]["socket_address"]
    health = listener(envoy, "envoy_health")["address"]["socket_address"]
    assert llm["address"] == health["address"] == "0.0.0.0"
    assert ports(container) == {"http": llm["port_value"], "envoy-health": health["port_value"]}
    # The admin interface stays on loopback; the probe listener proxies only /ready and stats.
    admin = envoy["admin"]["address"]["socket_address"]
    assert admin["address"] == "127.0.0.1"
    assert clusters(envoy)["envoy_admin"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0][
        "endpoint"
    ]["address"]["socket_address"]["port_value"] == admin["port_value"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "envoy-health"}
    assert "livenessProbe" in container and "startupProbe" in container
    routes = hcm(envoy, "envoy_health")["route_config"]["virtual_hosts"][0]["routes"]
    assert {"path": "/ready"} in [r["match"] for r in routes]
    assert "/etc/envoy/envoy.yaml" in container["args"]


@CASES
def test_security_context(render: RenderFn, values: Path | None) -> None:
    rendered = render(values)
    assert rendered.containers()
    for dep, container in rendered.containers():
        pod_sc = dep["spec"]["template"]["spec"].get("securityContext", {})
        sc = container["securityContext"]
        where = f"{dep['metadata']['name']}/{container['name']}"
        assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, where
        assert sc["readOnlyRootFilesystem"] is True, where
        assert sc["allowPrivilegeEscalation"] is False, where
        assert "ALL" in sc["capabilities"]["drop"], where
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile"))
        assert seccomp == {"type": "RuntimeDefault"}, where
        assert pod_sc.get("runAsUser", 0) != 0 and sc.get("runAsUser", 1) != 0, where
        image = container["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), where
        assert container.get("resources"), where


@CASES
def test_services_target_named_container_ports(render: RenderFn, values: Path | None) -> None:
    rendered = render(values)
    pod_ports = {
        (dep["metadata"]["labels"]["app.kubernetes.io/component"], name)
        for dep, container in rendered.containers()
        for name in ports(container)
    }
    for svc in rendered.of_kind("Service"):
        component = svc["spec"]["selector"]["app.kubernetes.io/component"]
        for port in svc["spec"]["ports"]:
            assert (component, port["targetPort"]) in pod_ports, (svc["metadata"]["name"], port)


@CASES
def test_client_service_exposes_only_envoy_listener(render: RenderFn, values: Path | None) -> None:
    rendered = render(values)
    if rendered.envoy_config() is None:
        assert FULLNAME not in rendered.names("Service")
        return
    service = rendered.get("Service", FULLNAME)
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]


# --- Envoy config semantics (envoy/two-tier.yaml) -------------------------------------------


@CASES
def test_envoy_config_semantics(render: RenderFn, values: Path | None) -> None:
    rendered = render(values)
    envoy = rendered.envoy_config()
    if envoy is None:
        return
    vals = values_of(values)
    config = rendered.router_config()
    header = config["routing"]["header"]
    manager = hcm(envoy)
    mutations = manager["early_header_mutation_extensions"][0]["typed_config"]["mutations"]
    assert {"remove": header} in mutations

    ext_proc = manager["http_filters"][0]
    assert ext_proc["name"] == "envoy.filters.http.ext_proc"
    typed = ext_proc["typed_config"]
    assert {k: typed["processing_mode"][k] for k in EXT_PROC_MODES} == EXT_PROC_MODES
    assert typed["allow_mode_override"] is True
    assert typed["failure_mode_allow"] is vals["envoy"]["extProc"]["failureModeAllow"]
    assert typed["message_timeout"] == vals["envoy"]["extProc"]["messageTimeout"]
    assert typed["grpc_service"]["envoy_grpc"]["cluster_name"] == "extproc_router"
    assert manager["http_filters"][-1]["name"] == "envoy.filters.http.router"

    body = vals["maxBodyBytes"]
    assert listener(envoy, "llm")["per_connection_buffer_limit_bytes"] == body
    assert config["request"]["max_body_bytes"] <= body
    all_clusters = clusters(envoy)
    router_cluster = all_clusters["extproc_router"]
    assert "http2_protocol_options" in json.dumps(router_cluster)
    assert router_cluster["per_connection_buffer_limit_bytes"] == config["server"][
        "max_message_bytes"
    ]

    tiers = vals["tiers"]
    for tier in tiers:
        cluster = all_clusters[tier.get("cluster", tier["name"])]
        assert cluster["type"] == "STRICT_DNS"
        assert cluster["per_connection_buffer_limit_bytes"] == body
        got = [f"{a['address']}:{a['port_value']}" for a in endpoints(cluster)]
        assert got == tier["endpoints"]
    assert len(all_clusters) == len(tiers) + 2  # + extproc_router, envoy_admin

    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    routed = [t for t in tiers if not t.get("envoyOnly")]
    assert len(routes) == len(routed) + 1
    for route, tier in zip(routes, routed, strict=False):
        assert route["match"]["headers"] == [
            {"name": header, "string_match": {"exact": tier["name"]}}
        ]
        split = vals["envoy"]["weightedSplit"].get(tier["name"])
        if split is None:
            assert route["route"]["cluster"] == tier.get("cluster", tier["name"])
        else:
            weighted = route["route"]["weighted_clusters"]["clusters"]
            assert [(c["name"], c["weight"]) for c in weighted] == [
                (c["cluster"], c["weight"]) for c in split["clusters"]
            ]
    default = routes[-1]
    assert default["match"] == {"prefix": "/"}
    default_tier = config["routing"]["default_tier"]
    if default_tier not in vals["envoy"]["weightedSplit"]:
        assert default["route"]["cluster"] == config["tiers"][default_tier]["cluster"]


@CASES
def test_router_config_tiers_follow_values(render: RenderFn, values: Path | None) -> None:
    config = render(values).router_config()
    tiers = [t for t in values_of(values)["tiers"] if not t.get("envoyOnly")]
    assert list(config["tiers"]) == [t["name"] for t in tiers]  # order kept (fallback order)
    for tier in tiers:
        rendered = config["tiers"][tier["name"]]
        assert "endpoints" not in rendered and "envoy" not in rendered
        for key in ("model", "prices", "sla_ms", "fallback", "metrics_urls"):
            if key in tier:
                assert rendered[key] == tier[key]


# --- images and extra volumes ---------------------------------------------------------------


DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("mode", ["sidecar", "standalone"])
def test_image_registry_and_digest(render: RenderFn, mode: str) -> None:
    rendered = render(None, f"mode={mode}", "router.image.registry=reg.example.com/",
                      f"router.image.digest={DIGEST}", "envoy.image.registry=mirror.local")
    _, router = rendered.container("router")
    _, envoy = rendered.container("envoy")
    assert router["image"] == f"reg.example.com/extproc-router@{DIGEST}"  # digest wins over tag
    assert envoy["image"] == "mirror.local/envoyproxy/envoy:v1.40.0"


def test_a_malformed_digest_is_refused(render_error: Callable[[list[str]], str]) -> None:
    assert "digest" in render_error(["router.image.digest=latest"])


@pytest.mark.parametrize("mode", ["sidecar", "standalone"])
def test_extra_volumes_and_mounts(render: RenderFn, mode: str) -> None:
    rendered = render(
        None, f"mode={mode}",
        "router.extraVolumes[0].name=models", "router.extraVolumes[0].configMap.name=models",
        "router.extraVolumeMounts[0].name=models", "router.extraVolumeMounts[0].mountPath=/models",
        "envoy.extraVolumes[0].name=certs", "envoy.extraVolumes[0].secret.secretName=certs",
        "envoy.extraVolumeMounts[0].name=certs", "envoy.extraVolumeMounts[0].mountPath=/certs",
    )
    router_dep, router = rendered.container("router")
    envoy_dep, envoy = rendered.container("envoy")
    assert {"name": "models", "mountPath": "/models"} in router["volumeMounts"]
    assert {"name": "certs", "mountPath": "/certs"} in envoy["volumeMounts"]
    router_volumes = {v["name"]: v for v in router_dep["spec"]["template"]["spec"]["volumes"]}
    envoy_volumes = {v["name"]: v for v in envoy_dep["spec"]["template"]["spec"]["volumes"]}
    assert router_volumes["models"]["configMap"] == {"name": "models"}
    assert envoy_volumes["certs"]["secret"] == {"secretName": "certs"}


# --- the router config's schema ------------------------------------------------------------


def test_chart_schema_embeds_the_routers_config_schema() -> None:
    import importlib.util

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("gen_chart_schema",
                                                  root / "scripts" / "gen-chart-schema.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = json.loads(module.CHART_SCHEMA.read_text(encoding="utf-8"))
    assert current == module.embedded(current), (
        "values.schema.json is stale: run scripts/gen-chart-schema.py")


def test_a_router_config_typo_is_refused_at_install(
    render_error: Callable[[list[str]], str],
) -> None:
    message = render_error(["router.config.routing.rules[0].type=complexity",
                            "router.config.routing.rules[0].treshold=0.4"])
    assert "additional properties 'treshold' not allowed" in message
    message = render_error(["router.config.request.on_bad_request=explode"])
    assert "/router/config/request/on_bad_request" in message


# --- helm test hook ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sidecar", "standalone"])
def test_helm_test_hook_sends_one_request_through_envoy(render: RenderFn, mode: str) -> None:
    rendered = render(None, f"mode={mode}")
    (pod,) = [p for p in rendered.of_kind("Pod")
              if p["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    (container,) = pod["spec"]["containers"]
    script = container["command"][-1]
    service = next(s for s in rendered.of_kind("Service")
                   if s["metadata"]["name"] == FULLNAME)
    port = service["spec"]["ports"][0]["port"]
    assert f"http://{FULLNAME}.{NAMESPACE}.svc.cluster.local:{port}/v1/chat/completions" in script
    assert "--fail" in script and "x-route-tier" in script
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert not render(None, f"mode={mode}", "helmTest.enabled=false").of_kind("Pod")


# --- alerts ----------------------------------------------------------------------------------


def exported_metric_names() -> set[str]:
    """Sample names the router exposes (histograms with _bucket/_sum/_count)."""
    import re as _re

    from prometheus_client import generate_latest

    from extproc.config import parse_config
    from extproc.router import Router

    text = generate_latest(Router(parse_config({})).metrics.registry).decode()
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            names.add(name)
            if kind == "histogram":
                names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
            if kind == "counter":
                names.add(name if name.endswith("_total") else f"{name}_total")
        elif line and not line.startswith("#"):
            names.add(_re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def test_prometheus_rule_alerts_on_metrics_the_router_exports(render: RenderFn) -> None:
    import re as _re

    assert not render(None).of_kind("PrometheusRule")
    rendered = render(None, "metrics.prometheusRule.enabled=true")
    (rule,) = rendered.of_kind("PrometheusRule")
    alerts = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert set(alerts) == {"ExtprocRouterDown", "ExtprocRouterFailOpenHigh",
                           "ExtprocRouterCircuitOpen", "ExtprocRouterDecisionSlow"}
    assert alerts["ExtprocRouterFailOpenHigh"]["expr"].rstrip().endswith("> 0.05")
    exported = exported_metric_names()
    used = {m for r in alerts.values() for m in _re.findall(r"extproc_[a-z_]+", r["expr"])}
    assert used and used <= exported, sorted(used - exported)
    metrics_service = f"{FULLNAME}-metrics"
    assert metrics_service in rendered.names("Service")
    assert all(f'service="{metrics_service}"' in r["expr"] for r in alerts.values())


# --- control API token ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sidecar", "standalone"])
def test_network_policy_is_on_by_default(render: RenderFn, mode: str) -> None:
    assert render(None, f"mode={mode}").of_kind("NetworkPolicy")


def test_control_api_closed_without_a_token_secret(render: RenderFn) -> None:
    rendered = render(None)
    assert "control_token_file" not in rendered.router_config()["server"]
    assert "control_auth" not in rendered.router_config()["server"]  # the default: token
    _, router = rendered.container("router")
    assert all(m["name"] != "control-token" for m in router["volumeMounts"])


@pytest.mark.parametrize("mode", ["sidecar", "standalone"])
def test_control_token_secret_is_mounted_and_configured(render: RenderFn, mode: str) -> None:
    rendered = render(None, f"mode={mode}", "router.controlToken.existingSecret=router-control",
                      "router.controlToken.key=bearer")
    server = rendered.router_config()["server"]
    assert server["control_token_file"] == "/var/run/secrets/extproc-control/bearer"
    deployment, router = rendered.container("router")
    mount = next(m for m in router["volumeMounts"] if m["name"] == "control-token")
    assert mount == {"name": "control-token", "mountPath": "/var/run/secrets/extproc-control",
                     "readOnly": True}
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    volume = next(v for v in volumes if v["name"] == "control-token")
    assert volume["secret"] == {"secretName": "router-control",
                                "items": [{"key": "bearer", "path": "bearer"}]}


# --- modes ---------------------------------------------------------------------------------


def test_sidecar_mode_one_pod_with_both_containers(render: RenderFn) -> None:
    rendered = render(None, "mode=sidecar")
    deployments = rendered.of_kind("Deployment")
    assert [d["metadata"]["name"] for d in deployments] == [FULLNAME]
    names = [c["name"] for c in deployments[0]["spec"]["template"]["spec"]["containers"]]
    assert sorted(names) == ["envoy", "router"]
    assert rendered.names("Service") == [FULLNAME, f"{FULLNAME}-metrics"]
    envoy = rendered.envoy_config()
    assert envoy is not None
    router_cluster = clusters(envoy)["extproc_router"]
    assert router_cluster["type"] == "STATIC"
    grpc = port_of(rendered.router_config()["server"]["listen"])
    assert endpoints(router_cluster) == [{"address": "127.0.0.1", "port_value": grpc}]


def test_standalone_mode_two_deployments_and_services(render: RenderFn) -> None:
    rendered = render(None, "mode=standalone")
    assert rendered.names("Deployment") == [f"{FULLNAME}-envoy", ROUTER_SVC]
    assert rendered.names("Service") == [
        FULLNAME, f"{FULLNAME}-envoy-metrics", f"{FULLNAME}-metrics", ROUTER_SVC
    ]
    _, router = rendered.container("router")
    _, envoy_container = rendered.container("envoy")
    assert router is not envoy_container
    for dep in rendered.of_kind("Deployment"):
        assert len(dep["spec"]["template"]["spec"]["containers"]) == 1

    grpc = port_of(rendered.router_config()["server"]["listen"])
    service = rendered.get("Service", ROUTER_SVC)
    assert service["spec"]["clusterIP"] == "None"  # headless: Envoy sees every router pod
    assert {"name": "grpc", "port": grpc, "targetPort": "grpc"}.items() <= service["spec"][
        "ports"
    ][0].items()
    envoy = rendered.envoy_config()
    assert envoy is not None
    router_cluster = clusters(envoy)["extproc_router"]
    assert router_cluster["type"] == "STRICT_DNS"
    fqdn = f"{ROUTER_SVC}.{NAMESPACE}.svc.cluster.local"
    assert endpoints(router_cluster) == [{"address": fqdn, "port_value": grpc}]
    entry = rendered.get("Service", FULLNAME)
    assert entry["spec"]["selector"]["app.kubernetes.io/component"] == "envoy"


def test_standalone_without_envoy_is_router_only(render: RenderFn) -> None:
    rendered = render(None, "mode=standalone", "envoy.enabled=false")
    assert rendered.names("Deployment") == [ROUTER_SVC]
    assert rendered.names("Service") == [f"{FULLNAME}-metrics", ROUTER_SVC]
    assert rendered.envoy_config() is None


def test_invalid_settings_fail_the_render(render_error: Callable[[list[str]], str]) -> None:
    assert "sidecar" in render_error(["mode=sideways"])
    assert "envoy.enabled" in render_error(["envoy.enabled=false"])
    assert "is not a tier's cluster" in render_error(
        ["envoy.weightedSplit.tier_low.clusters[0].cluster=nope",
         "envoy.weightedSplit.tier_low.clusters[0].weight=1"]
    )
    assert "ports must differ" in render_error(["envoy.healthPort=50051"])
    # a tier without endpoints: a readable message, not a nil-pointer template panic
    for mode in ("sidecar", "standalone"):
        message = render_error([f"mode={mode}", "tiers[0].name=tier_low",
                                "tiers[0].model=small", "tiers[1].name=tier_high",
                                "tiers[1].endpoints[0]=big.svc:8000"])
        assert "tiers[tier_low].endpoints: Envoy needs at least one HOST:PORT" in message
        assert "nil pointer" not in message


# --- toggles -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sidecar", "standalone"])
def test_toggles_off_render_nothing_extra(render: RenderFn, mode: str) -> None:
    rendered = render(
        None, f"mode={mode}", "podDisruptionBudget.enabled=false", "dashboard.enabled=false",
        "networkPolicy.enabled=false",
    )
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor",
                 "NetworkPolicy"):
        assert not rendered.of_kind(kind), kind
    assert not any("redis" in name for name in rendered.names("Deployment"))
    assert "shared_state" not in rendered.router_config()
    for dep in rendered.of_kind("Deployment"):
        assert dep["spec"]["replicas"] >= 1


@pytest.mark.parametrize("mode", ["sidecar", "standalone"])
def test_toggles_on(render: RenderFn, mode: str) -> None:
    rendered = render(
        None,
        f"mode={mode}",
        "autoscaling.enabled=true",
        "envoy.autoscaling.enabled=true",
        "podDisruptionBudget.enabled=true",
        "metrics.serviceMonitor.enabled=true",
        "networkPolicy.enabled=true",
        "redis.enabled=true",
    )
    deployments = {d["metadata"]["name"]: d for d in rendered.of_kind("Deployment")}
    workloads = sorted(name for name in deployments if not name.endswith("-redis"))

    hpas = rendered.of_kind("HorizontalPodAutoscaler")
    assert all(h["apiVersion"] == "autoscaling/v2" for h in hpas)
    assert sorted(h["spec"]["scaleTargetRef"]["name"] for h in hpas) == workloads
    for name in workloads:
        assert "replicas" not in deployments[name]["spec"]  # the HPA owns the count

    pdbs = rendered.of_kind("PodDisruptionBudget")
    assert sorted(p["metadata"]["name"] for p in pdbs) == workloads
    for pdb in pdbs:
        labels = deployments[pdb["metadata"]["name"]]["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()

    (monitor,) = rendered.of_kind("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    first_endpoint = monitor["spec"]["endpoints"][0]
    assert {"port": "metrics", "path": "/metrics"}.items() <= first_endpoint.items()
    selector = monitor["spec"]["selector"]["matchLabels"].items()
    scraped = [
        svc for svc in rendered.of_kind("Service") if selector <= svc["metadata"]["labels"].items()
    ]
    scraped_ports = {p["name"] for s in scraped for p in s["spec"]["ports"]}
    assert scraped_ports == {e["port"] for e in monitor["spec"]["endpoints"]}
    assert all(s["spec"]["clusterIP"] == "None" for s in scraped)  # every pod, no proxying

    policies = rendered.of_kind("NetworkPolicy")
    assert policies and all(p["apiVersion"] == "networking.k8s.io/v1" for p in policies)
    selected = {p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                for p in policies}
    assert "redis" in selected

    redis_name = f"{FULLNAME}-redis"
    assert redis_name in deployments
    redis_svc = rendered.get("Service", redis_name)
    port = redis_svc["spec"]["ports"][0]["port"]
    assert rendered.router_config()["shared_state"]["redis_url"] == (
        f"redis://{redis_name}:{port}/0"
    )


def test_dashboard_configmap(render: RenderFn) -> None:
    rendered = render(None)
    (cm,) = [
        c for c in rendered.of_kind("ConfigMap") if c["metadata"]["name"].endswith("dashboard")
    ]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    (text,) = cm["data"].values()
    dashboard = json.loads(text)
    exprs = " ".join(
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    )
    for metric in (
        "extproc_decisions_total", "extproc_upstream_ttfb_seconds",
        "extproc_request_duration_seconds", "extproc_ttft_seconds", "extproc_cost_total",
        "extproc_circuit_state", "extproc_gpu_free_bytes", "extproc_backend_kv_cache_usage",
        "extproc_cache_hits_total", "extproc_cache_misses_total",
    ):
        assert metric in exprs, metric
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_extra_config_is_merged_into_router_config(render: RenderFn, tmp_path: Path) -> None:
    rendered = render(
        None,
        "router.extraConfig.routing.rewrite_model=true",
        "router.extraConfig.observe.response_body=all",
        "router.extraConfig.tiers.tier_high.latency_seed_ms=1234",
    )
    config = rendered.router_config()
    assert config["routing"]["rewrite_model"] is True
    assert config["routing"]["default_tier"] == "tier_low"  # untouched keys survive
    assert config["observe"]["response_body"] == "all"
    assert config["tiers"]["tier_high"]["latency_seed_ms"] == 1234
    assert config["tiers"]["tier_high"]["model"] == "large-model"


def test_max_body_bytes_sets_every_limit(render: RenderFn) -> None:
    rendered = render(None, "maxBodyBytes=1048576")
    config = rendered.router_config()
    envoy = rendered.envoy_config()
    assert envoy is not None
    assert config["request"]["max_body_bytes"] == 1048576
    assert config["server"]["max_message_bytes"] >= 1048576 + 65536
    assert listener(envoy, "llm")["per_connection_buffer_limit_bytes"] == 1048576
    assert clusters(envoy)["tier_low"]["per_connection_buffer_limit_bytes"] == 1048576


def test_sticky_ab_split_hashes_the_header(render: RenderFn) -> None:
    envoy = render(CHART / "examples" / "ab-test.yaml").envoy_config()
    assert envoy is not None
    routes = hcm(envoy)["route_config"]["virtual_hosts"][0]["routes"]
    (split,) = [r["route"] for r in routes if "weighted_clusters" in r["route"]]
    assert split["weighted_clusters"]["use_hash_policy"] is True
    assert split["hash_policy"] == [{"header": {"header_name": "x-user-id"}}]


def test_rendered_configmaps_feed_checksums(render: RenderFn) -> None:
    rendered = render(None, "mode=standalone")
    for dep in rendered.of_kind("Deployment"):
        annotations = dep["spec"]["template"]["metadata"]["annotations"]
        assert any(key.startswith("checksum/") for key in annotations), dep["metadata"]["name"]
