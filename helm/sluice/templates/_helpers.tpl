{{/*
Expand the name of the chart.
*/}}
{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to
this (by the DNS naming spec). If release name contains chart name it will be
used as a full name.
*/}}
{{- define "sluice.fullname" -}}
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

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "sluice.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "sluice.labels" -}}
helm.sh/chart: {{ include "sluice.chart" . }}
{{ include "sluice.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels
*/}}
{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The schedulers' name: the StatefulSet (or the drain Job) and its headless
Service. At most 52 characters: a StatefulSet adds a revision hash to its
pods' labels, and pod hostnames (<name>-<ordinal>, <name>-<index>) must stay
within 63.
*/}}
{{- define "sluice.scheduler.fullname" -}}
{{- printf "%s-scheduler" (include "sluice.fullname" .) | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.worker.fullname" -}}
{{- printf "%s-worker" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.kafka.configName" -}}
{{- printf "%s-kafka" (include "sluice.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of one component: call with (dict "ctx" $ "component" "scheduler").
*/}}
{{- define "sluice.componentLabels" -}}
{{ include "sluice.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "sluice.componentSelectorLabels" -}}
{{ include "sluice.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The sluice image reference.
*/}}
{{- define "sluice.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The ZeroMQ endpoint of every scheduler pod, one per line. Each scheduler
(StatefulSet pod <name>-<ordinal>, or drain Job pod <name>-<index>) has a
stable DNS name through the headless Service; a worker must connect to every
one of them, since each owns a different share of the partitions.
*/}}
{{- define "sluice.scheduler.endpoints" -}}
{{- $name := include "sluice.scheduler.fullname" . }}
{{- range $i := until (int .Values.scheduler.replicas) }}
{{ printf "tcp://%s-%d.%s.%s.svc.%s:%d" $name $i $name $.Release.Namespace $.Values.clusterDomain (int $.Values.scheduler.port) }}
{{- end }}
{{- end }}

{{/*
A value as text: YAML numbers reach templates as float64, which Go prints in
exponent form from 1e6 up ("1e+06"); integral ones are printed as integers.
*/}}
{{- define "sluice.scalar" -}}
{{- if and (kindIs "float64" .) (eq . (float64 (int64 .))) }}
{{- int64 . }}
{{- else }}
{{- . }}
{{- end }}
{{- end }}

{{/*
Which worker autoscaler to render: "keda", "hpa" or "" (none). Never both:
KEDA owns an HPA of its own for the ScaledObject.
*/}}
{{- define "sluice.autoscaler" -}}
{{- if and .Values.autoscaling.enabled (not .Values.drain.enabled) }}
{{- $keda := .Capabilities.APIVersions.Has "keda.sh/v1alpha1" }}
{{- if eq .Values.autoscaling.engine "hpa" }}hpa
{{- else if $keda }}keda
{{- else if eq .Values.autoscaling.engine "keda" }}
{{- fail "autoscaling.engine=keda but the cluster does not serve keda.sh/v1alpha1 (install KEDA, or use engine auto/hpa)" }}
{{- else }}hpa
{{- end }}
{{- end }}
{{- end }}

{{/*
librdkafka properties of one component as "key=value" lines, for the
ConfigMap: kafka.properties, the SASL mechanism and protocol, then the
component's own. Call with (dict "ctx" $ "own" .Values.scheduler.kafkaProperties).
*/}}
{{- define "sluice.kafka.properties" -}}
{{- $v := .ctx.Values.kafka }}
{{- $props := dict }}
{{- range $k, $val := $v.properties }}{{ $_ := set $props $k $val }}{{ end }}
{{- if $v.sasl.enabled }}
{{- $_ := set $props "security.protocol" $v.sasl.securityProtocol }}
{{- $_ := set $props "sasl.mechanism" $v.sasl.mechanism }}
{{- end }}
{{- range $k, $val := .own }}{{ $_ := set $props $k $val }}{{ end }}
{{- range $k := keys $props | sortAlpha }}
{{ $k }}={{ include "sluice.scalar" (get $props $k) }}
{{- end }}
{{- end }}

{{/*
The Kafka environment of one component: settings from the ConfigMap,
credentials from Secrets, and SLUICE_X (what -X reads) assembled from both
by Kubernetes' $(VAR) expansion, so a password is never written into the
ConfigMap or the pod spec. -X must then not appear on the command line: the
command line would win over SLUICE_X. Call with
(dict "ctx" $ "component" "scheduler").
*/}}
{{- define "sluice.kafka.env" -}}
{{- $v := .ctx.Values }}
{{- $cm := include "sluice.kafka.configName" .ctx }}
{{- $x := list "$(KAFKA_PROPERTIES)" }}
- name: SLUICE_BROKERS
  valueFrom:
    configMapKeyRef:
      name: {{ $cm }}
      key: brokers
{{- if eq .component "scheduler" }}
- name: SLUICE_TOPIC
  valueFrom:
    configMapKeyRef:
      name: {{ $cm }}
      key: topics
- name: SLUICE_GROUP
  valueFrom:
    configMapKeyRef:
      name: {{ $cm }}
      key: group
{{- if $v.kafka.dlqTopic }}
- name: SLUICE_DLQ_TOPIC
  valueFrom:
    configMapKeyRef:
      name: {{ $cm }}
      key: dlq-topic
{{- end }}
{{- else if $v.kafka.outputTopic }}
- name: SLUICE_OUTPUT_TOPIC
  valueFrom:
    configMapKeyRef:
      name: {{ $cm }}
      key: output-topic
{{- end }}
- name: KAFKA_PROPERTIES
  valueFrom:
    configMapKeyRef:
      name: {{ $cm }}
      key: {{ .component }}.properties
{{- if $v.kafka.sasl.enabled }}
- name: KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.sasl.existingSecret }}
      key: {{ $v.kafka.sasl.usernameKey }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.sasl.existingSecret }}
      key: {{ $v.kafka.sasl.passwordKey }}
{{- $x = append $x "sasl.username=$(KAFKA_SASL_USERNAME)" }}
{{- $x = append $x "sasl.password=$(KAFKA_SASL_PASSWORD)" }}
{{- end }}
{{- range $i, $p := $v.kafka.secretProperties }}
- name: KAFKA_SECRET_PROPERTY_{{ $i }}
  valueFrom:
    secretKeyRef:
      name: {{ $p.secretName }}
      key: {{ $p.key }}
{{- $x = append $x (printf "%s=$(KAFKA_SECRET_PROPERTY_%d)" $p.property $i) }}
{{- end }}
- name: SLUICE_X
  value: {{ join ";" $x | quote }}
{{- end }}

{{/*
Flags common to both daemons.
*/}}
{{- define "sluice.commonArgs" -}}
- --metrics-addr=0.0.0.0:{{ .Values.metrics.port }}
- --log-format={{ .Values.logging.format }}
- --log-level={{ .Values.logging.level }}
{{- end }}

{{/*
Refuse extraArgs that would silently undo what the chart sets up. Call with
(dict "args" .Values.scheduler.extraArgs "what" "scheduler.extraArgs").
*/}}
{{- define "sluice.checkExtraArgs" -}}
{{- range .args }}
{{- $a := toString . }}
{{- if or (hasPrefix "-X" $a) (hasPrefix "--property" $a) }}
{{- fail (printf "%s: %q: pass librdkafka properties through kafka.properties (or kafka.secretProperties); a -X on the command line would replace SLUICE_X, credentials included" $.what $a) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The scheduler's command line. Call with the root context.
*/}}
{{- define "sluice.scheduler.args" -}}
{{- include "sluice.checkExtraArgs" (dict "args" .Values.scheduler.extraArgs "what" "scheduler.extraArgs") }}
- --bind=tcp://*:{{ .Values.scheduler.port }}
{{ include "sluice.commonArgs" . }}
{{- with .Values.scheduler }}
{{- if and .order (ne .order "none") }}
- --order={{ .order }}
{{- end }}
{{- if .stateTopic }}
- --state-topic={{ .stateTopic }}
{{- end }}
{{- if $.Values.exactlyOnce }}
{{- if not .stateTopic }}
{{- fail "exactlyOnce needs scheduler.stateTopic: the completion markers say which jobs committed" }}
{{- end }}
- --exactly-once
{{- end }}
{{- if not (kindIs "invalid" .jobRecords) }}
- --job-records={{ .jobRecords | int64 }}
{{- end }}
{{- if not (kindIs "invalid" .window) }}
- --window={{ .window | int64 }}
{{- end }}
{{- if not (kindIs "invalid" .commitIntervalMs) }}
- --commit-interval-ms={{ .commitIntervalMs | int64 }}
{{- end }}
{{- if not (kindIs "invalid" .jobTimeoutMs) }}
- --job-timeout-ms={{ .jobTimeoutMs | int64 }}
{{- end }}
{{- if not (kindIs "invalid" .maxAttempts) }}
- --max-attempts={{ .maxAttempts | int64 }}
{{- end }}
{{- end }}
{{- if .Values.curve.enabled }}
- --curve-cert=/etc/sluice/curve/scheduler/{{ .Values.curve.scheduler.certKey }}
- --curve-clients-dir=/etc/sluice/curve/clients
{{- end }}
{{- if .Values.drain.enabled }}
- --drain
- --progress=lines
- --drain-linger-ms={{ int .Values.drain.lingerSeconds | mul 1000 }}
- --drain-linger-workers={{ int .Values.drain.workers }}
{{- end }}
{{- with .Values.scheduler.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The worker's command line: one --scheduler per scheduler pod.
*/}}
{{- define "sluice.worker.args" -}}
{{- include "sluice.checkExtraArgs" (dict "args" .Values.worker.extraArgs "what" "worker.extraArgs") }}
{{- range (include "sluice.scheduler.endpoints" . | trim | splitList "\n") }}
- --scheduler={{ . }}
{{- end }}
- --plugin={{ .Values.plugin.path }}
{{- range $k := keys .Values.plugin.options | sortAlpha }}
- --plugin-opt={{ $k }}={{ include "sluice.scalar" (get $.Values.plugin.options $k) }}
{{- end }}
{{ include "sluice.commonArgs" . }}
- --grace-ms={{ .Values.worker.graceMs | int64 }}
{{- if .Values.exactlyOnce }}
- --exactly-once
{{- end }}
{{- with .Values.worker }}
{{- if not (kindIs "invalid" .credits) }}
- --credits={{ .credits | int64 }}
{{- end }}
{{- if not (kindIs "invalid" .batchSize) }}
- --batch-size={{ .batchSize | int64 }}
{{- end }}
{{- if not (kindIs "invalid" .recordRetries) }}
- --record-retries={{ .recordRetries | int64 }}
{{- end }}
{{- if not (kindIs "invalid" .flushTimeoutMs) }}
- --flush-timeout-ms={{ .flushTimeoutMs | int64 }}
{{- end }}
{{- end }}
{{- if .Values.curve.enabled }}
- --curve-cert=/etc/sluice/curve/worker/{{ .Values.curve.worker.certKey }}
- --curve-server-cert=/etc/sluice/curve/worker/{{ .Values.curve.worker.serverCertKey }}
{{- end }}
{{- if .Values.drain.enabled }}
- --drain
{{- end }}
{{- with .Values.worker.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Liveness on /healthz, readiness on /readyz, both on the metrics port.
*/}}
{{- define "sluice.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  {{- toYaml .Values.probes.liveness | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  {{- toYaml .Values.probes.readiness | nindent 2 }}
{{- end }}

{{/*
The scheduler's pod spec, shared by the StatefulSet and the drain Job.
*/}}
{{- define "sluice.scheduler.podSpec" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
serviceAccountName: {{ include "sluice.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automount }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ .Values.scheduler.terminationGracePeriodSeconds }}
containers:
  - name: scheduler
    image: {{ include "sluice.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    command: ["sluice-scheduler"]
    args:
      {{- include "sluice.scheduler.args" . | trim | nindent 6 }}
    env:
      {{- include "sluice.kafka.env" (dict "ctx" . "component" "scheduler") | trim | nindent 6 }}
      {{- if and .Values.scheduler.staticMembership (not .Values.drain.enabled) }}
      - name: SLUICE_INSTANCE_ID
        valueFrom:
          fieldRef:
            fieldPath: metadata.name
      {{- end }}
      {{- with .Values.scheduler.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    ports:
      - name: zmq
        containerPort: {{ .Values.scheduler.port }}
        protocol: TCP
      - name: metrics
        containerPort: {{ .Values.metrics.port }}
        protocol: TCP
    {{- include "sluice.probes" . | nindent 4 }}
    resources:
      {{- toYaml .Values.scheduler.resources | nindent 6 }}
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
      {{- if .Values.curve.enabled }}
      - name: curve-cert
        mountPath: /etc/sluice/curve/scheduler
        readOnly: true
      - name: curve-clients
        mountPath: /etc/sluice/curve/clients
        readOnly: true
      {{- end }}
      {{- with .Values.scheduler.extraVolumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
volumes:
  - name: tmp
    emptyDir: {}
  {{- if .Values.curve.enabled }}
  - name: curve-cert
    secret:
      secretName: {{ .Values.curve.scheduler.existingSecret }}
      defaultMode: 0440
      items:
        - key: {{ .Values.curve.scheduler.certKey }}
          path: {{ .Values.curve.scheduler.certKey }}
  - name: curve-clients
    secret:
      secretName: {{ .Values.curve.clients.existingSecret }}
      defaultMode: 0444
  {{- end }}
  {{- with .Values.scheduler.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .Values.scheduler.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.scheduler.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.scheduler.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The worker's pod spec, shared by the Deployment and the drain Job.
*/}}
{{- define "sluice.worker.podSpec" -}}
{{- $graceS := int .Values.worker.terminationGracePeriodSeconds }}
{{- if le (mul $graceS 1000) (add (int .Values.worker.graceMs) 2000) }}
{{- fail (printf "worker.terminationGracePeriodSeconds (%d s) must exceed worker.graceMs + 2 s (%d ms): the worker needs that long to stop cleanly" $graceS (int .Values.worker.graceMs)) }}
{{- end }}
{{- $pluginImage := .Values.plugin.image.repository }}
{{- if and $pluginImage (not (hasPrefix "/plugins/" .Values.plugin.path)) }}
{{- fail (printf "plugin.path %q: with plugin.image the plugins are copied to /plugins, so plugin.path must be /plugins/<name>.so" .Values.plugin.path) }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
serviceAccountName: {{ include "sluice.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automount }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ $graceS }}
{{- if $pluginImage }}
initContainers:
  - name: plugins
    image: {{ printf "%s:%s" $pluginImage .Values.plugin.image.tag }}
    imagePullPolicy: {{ .Values.plugin.image.pullPolicy }}
    # The worker loads no plugin from a directory others can write to, and
    # an emptyDir's root is world-writable: copy into a 0755 subdirectory
    # of it (owned by this UID, as are the files), mounted as /plugins.
    command:
      - sh
      - -c
      - >-
        set -e;
        mkdir -p /sluice-plugins/lib;
        chmod 0755 /sluice-plugins/lib;
        cp -v "$0"/*.so /sluice-plugins/lib/;
        chmod 0644 /sluice-plugins/lib/*.so
      - {{ .Values.plugin.image.path | quote }}
    resources:
      {{- toYaml .Values.worker.resources | nindent 6 }}
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    volumeMounts:
      - name: plugins
        mountPath: /sluice-plugins
{{- end }}
containers:
  - name: worker
    image: {{ include "sluice.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    command: ["sluice-worker"]
    args:
      {{- include "sluice.worker.args" . | trim | nindent 6 }}
    env:
      {{- include "sluice.kafka.env" (dict "ctx" . "component" "worker") | trim | nindent 6 }}
      {{- with .Values.worker.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    ports:
      - name: metrics
        containerPort: {{ .Values.metrics.port }}
        protocol: TCP
    {{- include "sluice.probes" . | nindent 4 }}
    resources:
      {{- toYaml .Values.worker.resources | nindent 6 }}
    securityContext:
      {{- toYaml .Values.securityContext | nindent 6 }}
    volumeMounts:
      - name: tmp
        mountPath: /tmp
      {{- if $pluginImage }}
      - name: plugins
        mountPath: /plugins
        subPath: lib
        readOnly: true
      {{- end }}
      {{- if .Values.curve.enabled }}
      - name: curve
        mountPath: /etc/sluice/curve/worker
        readOnly: true
      {{- end }}
      {{- with .Values.worker.extraVolumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
volumes:
  - name: tmp
    emptyDir: {}
  {{- if $pluginImage }}
  - name: plugins
    emptyDir: {}
  {{- end }}
  {{- if .Values.curve.enabled }}
  - name: curve
    secret:
      secretName: {{ .Values.curve.worker.existingSecret }}
      defaultMode: 0440
      items:
        - key: {{ .Values.curve.worker.certKey }}
          path: {{ .Values.curve.worker.certKey }}
        - key: {{ .Values.curve.worker.serverCertKey }}
          path: {{ .Values.curve.worker.serverCertKey }}
  {{- end }}
  {{- with .Values.worker.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .Values.worker.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.worker.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.worker.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Pod template annotations: a checksum of the Kafka ConfigMap so that a
settings change rolls the pods. Call with (dict "ctx" $ "extra" annotations).
*/}}
{{- define "sluice.podAnnotations" -}}
checksum/kafka: {{ include (print .ctx.Template.BasePath "/configmap.yaml") .ctx | sha256sum }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end }}
