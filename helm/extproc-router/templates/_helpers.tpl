{{/*
Names, labels and shared pod settings. Component helpers take (dict "ctx" $ "component" NAME);
components: gateway (sidecar-mode pods: Envoy + router), router, envoy, redis.
*/}}

{{- define "extproc-router.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "extproc-router.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<suffix>", kept within 63 characters. (dict "ctx" $ "suffix" "router") */}}
{{- define "extproc-router.suffixedName" -}}
{{- printf "%s-%s" (include "extproc-router.fullname" .ctx | trunc 56 | trimSuffix "-") .suffix }}
{{- end }}

{{- define "extproc-router.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: (dict "ctx" $ "component" "router") */}}
{{- define "extproc-router.selectorLabels" -}}
app.kubernetes.io/name: {{ include "extproc-router.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Common labels: (dict "ctx" $ "component" "router") */}}
{{- define "extproc-router.labels" -}}
helm.sh/chart: {{ include "extproc-router.chart" .ctx }}
{{ include "extproc-router.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: extproc-router
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels shared by every object of the release (no component): for selectors across them. */}}
{{- define "extproc-router.instanceLabels" -}}
app.kubernetes.io/name: {{ include "extproc-router.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "extproc-router.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "extproc-router.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Workload names. sidecar: one Deployment "<fullname>" (component gateway). standalone:
"<fullname>-router" and "<fullname>-envoy". The client-facing Envoy Service is "<fullname>"
in both modes. */}}
{{- define "extproc-router.routerWorkloadName" -}}
{{- if eq .Values.mode "sidecar" }}
{{- include "extproc-router.fullname" . }}
{{- else }}
{{- include "extproc-router.suffixedName" (dict "ctx" . "suffix" "router") }}
{{- end }}
{{- end }}

{{- define "extproc-router.routerComponent" -}}
{{- if eq .Values.mode "sidecar" }}gateway{{ else }}router{{ end }}
{{- end }}

{{- define "extproc-router.envoyWorkloadName" -}}
{{- include "extproc-router.suffixedName" (dict "ctx" . "suffix" "envoy") }}
{{- end }}

{{- define "extproc-router.routerServiceName" -}}
{{- include "extproc-router.suffixedName" (dict "ctx" . "suffix" "router") }}
{{- end }}

{{- define "extproc-router.routerConfigMapName" -}}
{{- include "extproc-router.suffixedName" (dict "ctx" . "suffix" "router-config") }}
{{- end }}

{{- define "extproc-router.envoyConfigMapName" -}}
{{- include "extproc-router.suffixedName" (dict "ctx" . "suffix" "envoy-config") }}
{{- end }}

{{- define "extproc-router.redisName" -}}
{{- include "extproc-router.suffixedName" (dict "ctx" . "suffix" "redis") }}
{{- end }}

{{- define "extproc-router.redisUrl" -}}
{{- printf "redis://%s:%d/%d" (include "extproc-router.redisName" .) (int .Values.redis.port) (int .Values.redis.db) }}
{{- end }}

{{- define "extproc-router.image" -}}
{{- $repository := .image.repository }}
{{- with .image.registry }}{{ $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}{{ end }}
{{- if .image.digest }}
{{- printf "%s@%s" $repository .image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (toString (default .ctx.Chart.AppVersion .image.tag)) }}
{{- end }}
{{- end }}

{{/* Deep merge of map .src into map .dst, in place; .src wins, also for false/0/"" (unlike
sprig's mergeOverwrite); lists are replaced. */}}
{{- define "extproc-router.deepMerge" -}}
{{- $dst := .dst }}
{{- range $key, $value := .src }}
{{- $current := get $dst $key }}
{{- if and (kindIs "map" $value) (kindIs "map" $current) }}
{{- include "extproc-router.deepMerge" (dict "dst" $current "src" $value) }}
{{- else }}
{{- $_ := set $dst $key $value }}
{{- end }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by the router, Envoy and gateway pods. */}}
{{- define "extproc-router.podCommon" -}}
serviceAccountName: {{ include "extproc-router.serviceAccountName" . }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Pod metadata: (dict "ctx" $ "component" C "checksums" (list "router" "envoy")) */}}
{{- define "extproc-router.podMetadata" -}}
labels:
  {{- include "extproc-router.labels" (dict "ctx" .ctx "component" .component) | nindent 2 }}
  {{- with .ctx.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  {{- if has "router" .checksums }}
  checksum/router-config: {{ include "extproc-router.routerConfig" .ctx | sha256sum }}
  {{- end }}
  {{- if has "envoy" .checksums }}
  checksum/envoy-config: {{ include "extproc-router.envoyConfig" .ctx | sha256sum }}
  {{- end }}
  {{- with .ctx.Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/* Container securityContext: the chart-wide one merged with .extra (a map). */}}
{{- define "extproc-router.containerSecurityContext" -}}
{{- $sc := deepCopy .ctx.Values.containerSecurityContext }}
{{- include "extproc-router.deepMerge" (dict "dst" $sc "src" (deepCopy (.extra | default dict))) }}
{{- toYaml $sc }}
{{- end }}

{{/* Split "host:port" (or "[v6]:port"): (list HOST PORT) or fail. */}}
{{- define "extproc-router.hostPort" -}}
{{- if not (regexMatch "^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9._-]+):[0-9]{1,5}$" .endpoint) }}
{{- fail (printf "tiers[%s].endpoints: expected HOST:PORT, got %q" .tier .endpoint) }}
{{- end }}
{{- $port := regexReplaceAll "^.*:" .endpoint "" }}
{{- $host := regexReplaceAll ":[0-9]+$" .endpoint "" | trimPrefix "[" | trimSuffix "]" }}
{{- toJson (list $host (atoi $port)) }}
{{- end }}

{{/* Checks across values that the JSON schema cannot express; fails the render. */}}
{{- define "extproc-router.validate" -}}
{{- $v := .Values }}
{{- if not (has $v.mode (list "sidecar" "standalone")) }}
{{- fail (printf "mode must be sidecar or standalone, got %q" $v.mode) }}
{{- end }}
{{- if and (eq $v.mode "sidecar") (not $v.envoy.enabled) }}
{{- fail "mode=sidecar runs the router inside the Envoy pod: it needs envoy.enabled=true (use mode=standalone for a router-only install)" }}
{{- end }}
{{- if not $v.tiers }}
{{- fail "tiers: at least one tier is required" }}
{{- end }}
{{- $names := dict }}
{{- $clusters := dict }}
{{- range $i, $tier := $v.tiers }}
{{- if not $tier.name }}
{{- fail (printf "tiers[%d]: name is required" $i) }}
{{- end }}
{{- if hasKey $names $tier.name }}
{{- fail (printf "tiers: duplicate tier name %q" $tier.name) }}
{{- end }}
{{- $_ := set $names $tier.name true }}
{{- $_ := set $clusters (default $tier.name $tier.cluster) true }}
{{- if and $v.envoy.enabled (not $tier.endpoints) }}
{{- fail (printf "tiers[%s].endpoints: Envoy needs at least one HOST:PORT" $tier.name) }}
{{- end }}
{{- end }}
{{- range $tierName, $split := $v.envoy.weightedSplit }}
{{- if not (hasKey $names $tierName) }}
{{- fail (printf "envoy.weightedSplit.%s: not a tier" $tierName) }}
{{- end }}
{{- if not $split.clusters }}
{{- fail (printf "envoy.weightedSplit.%s.clusters: at least one cluster is required" $tierName) }}
{{- end }}
{{- range $split.clusters }}
{{- if not (hasKey $clusters (toString .cluster)) }}
{{- fail (printf "envoy.weightedSplit.%s: cluster %q is not a tier's cluster" $tierName (toString .cluster)) }}
{{- end }}
{{- end }}
{{- end }}
{{- $routerPorts := list (int $v.router.grpcPort) (int $v.router.adminPort) }}
{{- $envoyPorts := list (int $v.envoy.listenPort) (int $v.envoy.adminPort) (int $v.envoy.healthPort) }}
{{- $ports := $routerPorts }}
{{- if $v.envoy.enabled }}
{{- if eq $v.mode "sidecar" }}
{{- $ports = concat $routerPorts $envoyPorts }}
{{- else }}
{{- $ports = $envoyPorts }}
{{- end }}
{{- end }}
{{- if ne (len $ports) (len (uniq $ports)) }}
{{- fail (printf "ports must differ within a pod, got %v" $ports) }}
{{- end }}
{{- if eq (int $v.router.grpcPort) (int $v.router.adminPort) }}
{{- fail "router.grpcPort and router.adminPort must differ" }}
{{- end }}
{{- end }}
