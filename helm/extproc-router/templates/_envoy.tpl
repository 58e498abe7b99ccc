{{/*
Envoy: its config (envoy.yaml, same semantics as envoy/two-tier.yaml) and its container.
*/}}

{{/* The route action of one tier: (dict "ctx" $ "tier" TIER-MAP "timeout" T) */}}
{{- define "extproc-router.envoy.routeAction" -}}
{{- $e := .ctx.Values.envoy }}
{{- $split := get ($e.weightedSplit | default dict) .tier.name -}}
timeout: {{ .timeout }}
{{- if $split }}
weighted_clusters:
  clusters:
  {{- range $split.clusters }}
  - name: {{ .cluster | quote }}
    weight: {{ .weight }}
    {{- with .responseHeaders }}
    response_headers_to_add:
    {{- range $key, $value := . }}
    - header: { key: {{ $key | quote }}, value: {{ $value | toString | quote }} }
      append_action: OVERWRITE_IF_EXISTS_OR_ADD
    {{- end }}
    {{- end }}
  {{- end }}
  {{- if $split.stickyHeader }}
  use_hash_policy: true
hash_policy:
- header: { header_name: {{ $split.stickyHeader | quote }} }
  {{- end }}
{{- else }}
cluster: {{ default .tier.name .tier.cluster | quote }}
{{- end }}
{{- with $e.retryPolicy }}
retry_policy:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "extproc-router.envoyConfig" -}}
{{- include "extproc-router.validate" . }}
{{- $v := .Values }}
{{- $e := $v.envoy }}
{{- $cfg := include "extproc-router.routerConfig" . | fromYaml }}
{{- $header := dig "routing" "header" "x-extproc-tier" $cfg }}
{{- $defaultTierName := dig "routing" "default_tier" "tier_low" $cfg }}
{{- $defaultTier := dict }}
{{- range $v.tiers }}
{{- if eq .name $defaultTierName }}
{{- $defaultTier = . }}
{{- end }}
{{- end }}
{{- if not $defaultTier }}
{{- fail (printf "routing.default_tier %q is not in tiers" $defaultTierName) }}
{{- end }}
{{- $body := int64 $v.maxBodyBytes }}
{{- $grpcBuffer := dig "server" "max_message_bytes" (add $body 16777216) $cfg | int64 }}
{{- $fullname := include "extproc-router.fullname" . -}}
# envoy.yaml rendered by the extproc-router Helm chart (mode: {{ $v.mode }}).
# Early header mutation strips a client-sent {{ $header }}; ext_proc asks the router, which sets
# it and clears the route cache; the routes below match it. No header (router down with
# failure_mode_allow, non-LLM paths): the default route to {{ $defaultTierName }}.
node:
  id: {{ $fullname }}
  cluster: {{ $fullname }}
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: {{ $e.adminPort }} }
static_resources:
  listeners:
  - name: llm
    address:
      socket_address: { address: 0.0.0.0, port_value: {{ $e.listenPort }} }
    per_connection_buffer_limit_bytes: {{ $body }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: llm
          stream_idle_timeout: {{ $e.streamIdleTimeout }}
          request_timeout: 0s
          early_header_mutation_extensions:
          - name: envoy.http.early_header_mutation.header_mutation
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation
              mutations:
              - remove: {{ $header | quote }}
              {{- range $e.stripHeaders }}
              - remove: {{ . | lower | quote }}
              {{- end }}
          route_config:
            name: llm_routes
            virtual_hosts:
            - name: llm
              domains: ["*"]
              routes:
              {{- range $tier := $v.tiers }}
              {{- if not $tier.envoyOnly }}
              {{- $timeout := dig "envoy" "routeTimeout" $e.routeTimeout $tier }}
              - match:
                  prefix: "/"
                  headers:
                  - name: {{ $header | quote }}
                    string_match: { exact: {{ $tier.name | quote }} }
                route:
                  {{- include "extproc-router.envoy.routeAction" (dict "ctx" $ "tier" $tier "timeout" $timeout) | nindent 18 }}
              {{- end }}
              {{- end }}
              - match: { prefix: "/" }
                route:
                  {{- $timeout := dig "envoy" "routeTimeout" $e.routeTimeout $defaultTier }}
                  {{- include "extproc-router.envoy.routeAction" (dict "ctx" $ "tier" $defaultTier "timeout" $timeout) | nindent 18 }}
          http_filters:
          - name: envoy.filters.http.ext_proc
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor
              grpc_service:
                envoy_grpc: { cluster_name: extproc_router }
              failure_mode_allow: {{ $e.extProc.failureModeAllow }}
              message_timeout: {{ $e.extProc.messageTimeout }}
              allow_mode_override: true
              processing_mode:
                request_header_mode: SEND
                request_body_mode: BUFFERED
                response_header_mode: SEND
                response_body_mode: NONE
                request_trailer_mode: SKIP
                response_trailer_mode: SKIP
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  # Probe/metrics listener: only the admin's /ready and /stats/prometheus leave the pod.
  - name: envoy_health
    address:
      socket_address: { address: 0.0.0.0, port_value: {{ $e.healthPort }} }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: envoy_health
          route_config:
            name: envoy_health
            virtual_hosts:
            - name: envoy_health
              domains: ["*"]
              routes:
              - match: { path: /ready }
                route: { cluster: envoy_admin, timeout: 5s }
              - match: { path: /stats/prometheus }
                route: { cluster: envoy_admin, timeout: 10s }
              - match: { prefix: "/" }
                direct_response: { status: 404 }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: extproc_router
    connect_timeout: 1s
    per_connection_buffer_limit_bytes: {{ $grpcBuffer }}
    {{- if eq $v.mode "sidecar" }}
    type: STATIC
    {{- else }}
    type: STRICT_DNS
    dns_lookup_family: {{ $e.dnsLookupFamily }}
    {{- end }}
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options:
            initial_stream_window_size: 16777216
            initial_connection_window_size: 33554432
    circuit_breakers:
      thresholds:
      - { max_connections: 100000, max_pending_requests: 100000, max_requests: 100000 }
    load_assignment:
      cluster_name: extproc_router
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              {{- if eq $v.mode "sidecar" }}
              socket_address: { address: 127.0.0.1, port_value: {{ $v.router.grpcPort }} }
              {{- else }}
              socket_address: { address: {{ printf "%s.%s.svc.%s" (include "extproc-router.routerServiceName" .) .Release.Namespace $v.clusterDomain }}, port_value: {{ $v.router.grpcPort }} }
              {{- end }}
  - name: envoy_admin
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: envoy_admin
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: {{ $e.adminPort }} }
  {{- $seen := dict }}
  {{- range $tier := $v.tiers }}
  {{- $cluster := default $tier.name $tier.cluster }}
  {{- if not (hasKey $seen $cluster) }}
  {{- $_ := set $seen $cluster true }}
  {{- $te := deepCopy ($e.tierDefaults | default dict) }}
  {{- include "extproc-router.deepMerge" (dict "dst" $te "src" (deepCopy ($tier.envoy | default dict))) }}
  {{- $tls := $te.tls | default dict }}
  {{- $first := include "extproc-router.hostPort" (dict "tier" $tier.name "endpoint" (first $tier.endpoints)) | fromJsonArray }}
  - name: {{ $cluster | quote }}
    type: STRICT_DNS
    dns_lookup_family: {{ $e.dnsLookupFamily }}
    connect_timeout: {{ $te.connectTimeout | default "2s" }}
    lb_policy: {{ $te.lbPolicy | default "ROUND_ROBIN" }}
    per_connection_buffer_limit_bytes: {{ $body }}
    {{- with $te.outlierDetection }}
    outlier_detection:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    load_assignment:
      cluster_name: {{ $cluster | quote }}
      endpoints:
      - lb_endpoints:
        {{- range $endpoint := $tier.endpoints }}
        {{- $hp := include "extproc-router.hostPort" (dict "tier" $tier.name "endpoint" $endpoint) | fromJsonArray }}
        - endpoint:
            address:
              socket_address: { address: {{ index $hp 0 | quote }}, port_value: {{ index $hp 1 }} }
        {{- end }}
    {{- if $tls.enabled }}
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: {{ default (index $first 0) $tls.sni | quote }}
    {{- end }}
  {{- end }}
  {{- end }}
{{- end }}

{{/* The Envoy container. */}}
{{- define "extproc-router.envoyContainer" -}}
{{- $e := .Values.envoy -}}
- name: envoy
  image: {{ include "extproc-router.image" (dict "ctx" . "image" $e.image) | quote }}
  imagePullPolicy: {{ $e.image.pullPolicy }}
  command:
    - envoy
  args:
    - --config-path
    - /etc/envoy/envoy.yaml
    - --disable-hot-restart
    - --log-level
    - {{ $e.logLevel | quote }}
  ports:
    - name: http
      containerPort: {{ $e.listenPort }}
      protocol: TCP
    - name: envoy-health
      containerPort: {{ $e.healthPort }}
      protocol: TCP
  {{- with $e.startupProbe }}
  startupProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $e.livenessProbe }}
  livenessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $e.readinessProbe }}
  readinessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $e.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- include "extproc-router.containerSecurityContext" (dict "ctx" . "extra" $e.securityContext) | nindent 4 }}
  volumeMounts:
    - name: envoy-config
      mountPath: /etc/envoy
      readOnly: true
    - name: envoy-tmp
      mountPath: /tmp
    {{- with $e.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{- define "extproc-router.envoyVolumes" -}}
- name: envoy-config
  configMap:
    name: {{ include "extproc-router.envoyConfigMapName" . }}
- name: envoy-tmp
  emptyDir:
    sizeLimit: 64Mi
{{- with .Values.envoy.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}
