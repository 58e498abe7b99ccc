{{/*
The router: its config (router.yaml) and its container.
*/}}

{{/*
router.yaml. Layers, each deep-merged over the previous one:
  1. chart defaults from maxBodyBytes (request.max_body_bytes, server.max_message_bytes)
  2. router.config
  3. shared_state.redis_url when redis.enabled
  4. router.extraConfig (its `tiers.<name>` maps merge into the rendered tiers)
then server.listen / server.admin_listen from the ports (always), and `tiers` from .Values.tiers
in their order (the router's fallback order).
*/}}
{{- define "extproc-router.routerConfig" -}}
{{- $v := .Values }}
{{- $body := int64 $v.maxBodyBytes }}
{{- $cfg := dict "request" (dict "max_body_bytes" $body) "server" (dict "max_message_bytes" (add $body 16777216)) }}
{{- include "extproc-router.deepMerge" (dict "dst" $cfg "src" (deepCopy ($v.router.config | default dict))) }}
{{- if $v.redis.enabled }}
{{- $shared := dict "shared_state" (dict "redis_url" (include "extproc-router.redisUrl" .)) }}
{{- include "extproc-router.deepMerge" (dict "dst" $cfg "src" $shared) }}
{{- end }}
{{- $extra := deepCopy ($v.router.extraConfig | default dict) }}
{{- $extraTiers := get $extra "tiers" | default dict }}
{{- $_ := unset $extra "tiers" }}
{{- include "extproc-router.deepMerge" (dict "dst" $cfg "src" $extra) }}
{{- $_ := unset $cfg "tiers" }}
{{- if not (kindIs "map" (get $cfg "server")) }}
{{- $_ := set $cfg "server" dict }}
{{- end }}
{{- $grpcHost := ternary "127.0.0.1" "0.0.0.0" (eq $v.mode "sidecar") }}
{{- $_ := set $cfg.server "listen" (printf "%s:%d" $grpcHost (int $v.router.grpcPort)) }}
{{- with $v.router.controlToken }}{{- if .existingSecret }}
{{- $_ := set $cfg.server "control_token_file" (printf "/var/run/secrets/extproc-control/%s" .key) }}
{{- end }}{{- end }}
{{- $_ := set $cfg.server "admin_listen" (printf "0.0.0.0:%d" (int $v.router.adminPort)) }}
{{- $known := dict -}}
# router.yaml rendered by the extproc-router Helm chart (check: extproc-router validate FILE)
{{ toYaml $cfg }}
tiers:
{{- range $tier := $v.tiers }}
{{- if not $tier.envoyOnly }}
{{- $_ := set $known $tier.name true }}
{{- $t := omit (deepCopy $tier) "name" "endpoints" "envoy" "envoyOnly" }}
{{- $_ := set $t "cluster" (default $tier.name $tier.cluster) }}
{{- with get $extraTiers $tier.name }}
{{- include "extproc-router.deepMerge" (dict "dst" $t "src" .) }}
{{- end }}
  {{ $tier.name | quote }}:
    {{- toYaml $t | nindent 4 }}
{{- end }}
{{- end }}
{{- range $name, $t := $extraTiers }}
{{- if not (hasKey $known $name) }}
  {{ $name | quote }}:
    {{- toYaml $t | nindent 4 }}
{{- end }}
{{- end }}
{{- end }}

{{/* The router container. */}}
{{- define "extproc-router.routerContainer" -}}
{{- $v := .Values }}
{{- $r := $v.router }}
{{- $startup := deepCopy ($r.startupProbe | default dict) }}
{{- if hasKey $startup "grpc" }}
{{- if eq $v.mode "sidecar" }}
{{- $_ := unset $startup "grpc" }}
{{- $_ := set $startup "httpGet" (dict "path" "/readyz" "port" "metrics") }}
{{- else }}
{{- $_ := set $startup "grpc" (dict "port" (int $r.grpcPort)) }}
{{- end }}
{{- end -}}
- name: router
  image: {{ include "extproc-router.image" (dict "ctx" . "image" $r.image) | quote }}
  imagePullPolicy: {{ $r.image.pullPolicy }}
  command:
    - extproc-router
    - serve
    - --config
    - /etc/extproc/router.yaml
  ports:
    - name: grpc
      containerPort: {{ $r.grpcPort }}
      protocol: TCP
    - name: metrics
      containerPort: {{ $r.adminPort }}
      protocol: TCP
  env:
    - name: PYTHONDONTWRITEBYTECODE
      value: "1"
    - name: PYTHONUNBUFFERED
      value: "1"
    - name: HOME
      value: /tmp
    {{- with $r.env }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with $r.envFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $startup }}
  startupProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $r.livenessProbe }}
  livenessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $r.readinessProbe }}
  readinessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $r.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- include "extproc-router.containerSecurityContext" (dict "ctx" .) | nindent 4 }}
  volumeMounts:
    - name: router-config
      mountPath: /etc/extproc
      readOnly: true
    - name: router-tmp
      mountPath: /tmp
    {{- if $r.controlToken.existingSecret }}
    - name: control-token
      mountPath: /var/run/secrets/extproc-control
      readOnly: true
    {{- end }}
    {{- with $r.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{- define "extproc-router.routerVolumes" -}}
- name: router-config
  configMap:
    name: {{ include "extproc-router.routerConfigMapName" . }}
- name: router-tmp
  emptyDir:
    sizeLimit: 64Mi
{{- with .Values.router.controlToken }}{{- if .existingSecret }}
- name: control-token
  secret:
    secretName: {{ .existingSecret }}
    items:
      - key: {{ .key }}
        path: {{ .key }}
{{- end }}{{- end }}
{{- with .Values.router.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}
