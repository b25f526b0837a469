"""Offline validation of LAPOR's deployment files (run by deploy/scripts/k8s-validate.sh).

1. Renders every kustomize target (base, overlays/*) with `kubectl kustomize`.
2. Validates every rendered object: built-in kinds against the strict Kubernetes schemas of
   the PyPI package kubernetes-validate (unknown fields fail), custom resources against the
   schemas in k8s/schemas/ (which must match what k8s/schemas/generate.py writes).
3. Checks the rules the schemas cannot express: hardened LAPOR pods, a PDB per service,
   and for prod: no Secret objects, pinned images, KEDA-owned replica counts (>= 2).
4. Proves the schemas are strict: for every kind seen, an object with an injected unknown
   field must fail validation.
5. Validates deploy/compose.yaml against the Compose specification (vendored in the PyPI
   package check-jsonschema) and the OpenTelemetry Collector configs for dangling names.

Exits 1 on any failure and prints a summary per target.
"""

import argparse
import copy
import filecmp
import importlib.resources
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema
import kubernetes_validate
import referencing
import referencing.jsonschema
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMAS = os.path.join(ROOT, "k8s", "schemas")
SERVICES = ("intake", "routing", "notification", "analytics")


class Report:
    def __init__(self):
        self.errors = []

    def fail(self, where, message):
        self.errors.append(f"{where}: {message}")


def ident(obj):
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{meta.get('name')}"


# ------------------------------------------------------------------------------ schemas

def kubernetes_definitions(version):
    """The strict Kubernetes definitions bundled with kubernetes-validate, for $refs from
    the CRD schemas (same file kubernetes-validate itself resolves against)."""
    base = importlib.resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    path = base.joinpath(f"v{version}.0-local-strict", "_definitions.json")
    with importlib.resources.as_file(path) as file:
        with open(file) as handle:
            return json.load(handle)


class Validator:
    def __init__(self, k8s_version, schema_dir):
        self.k8s_version = k8s_version
        self.schema_dir = schema_dir
        definitions = kubernetes_definitions(k8s_version)
        resource = referencing.Resource.from_contents(definitions)
        self.registry = referencing.Registry().with_resource(definitions["$id"], resource)
        self.crd_validators = {}

    def crd_schema_path(self, obj):
        api_version = obj.get("apiVersion", "")
        if "/" not in api_version:
            return None
        group, version = api_version.split("/", 1)
        path = os.path.join(self.schema_dir, group, f"{obj.get('kind', '').lower()}_{version}.json")
        return path if os.path.exists(path) else None

    def errors(self, obj):
        """Every schema error of `obj` as 'path: message' strings (empty when valid)."""
        if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
            return ["not a Kubernetes object (apiVersion/kind missing)"]
        path = self.crd_schema_path(obj)
        if path:
            validator = self.crd_validators.get(path)
            if validator is None:
                with open(path) as handle:
                    schema = json.load(handle)
                validator = jsonschema.Draft202012Validator(schema, registry=self.registry)
                self.crd_validators[path] = validator
            return [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
                    for e in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.path)))]
        try:
            kubernetes_validate.validate(obj, self.k8s_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError as error:
            return [f"no schema for {obj['apiVersion']} {obj['kind']} ({error.message}); "
                    "add one to k8s/schemas/generate.py"]
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(p) for p in error.absolute_path) or "<root>"
            return [f"{where}: {error.message}"]
        return []


def check_schemas_fresh(report):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, os.path.join(SCHEMAS, "generate.py"), tmp], check=True)
        generated = sorted(os.path.relpath(os.path.join(d, f), tmp)
                           for d, _, files in os.walk(tmp) for f in files)
        committed = sorted(os.path.relpath(os.path.join(d, f), SCHEMAS)
                           for d, _, files in os.walk(SCHEMAS) for f in files if f.endswith(".json"))
        if generated != committed:
            report.fail("k8s/schemas", f"files differ from generate.py output: {generated} vs {committed}")
            return
        for name in generated:
            if not filecmp.cmp(os.path.join(tmp, name), os.path.join(SCHEMAS, name), shallow=False):
                report.fail(f"k8s/schemas/{name}", "differs from generate.py output; run python3 k8s/schemas/generate.py")


# ------------------------------------------------------------------------------ render

def render(kubectl, target):
    result = subprocess.run([kubectl, "kustomize", os.path.join(ROOT, "k8s", target)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"kustomize {target} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


# ------------------------------------------------------------------------------ policies

def parse_mebibytes(quantity):
    match = re.fullmatch(r"(\d+)(Mi|Gi|Ki|M|G)?", str(quantity))
    if not match:
        return None
    value, unit = int(match.group(1)), match.group(2) or ""
    factor = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20, "": 1 / 2**20}[unit]
    return value * factor


def service_deployments(objects):
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        labels = obj["spec"]["template"]["metadata"].get("labels", {})
        if labels.get("lapor/role") == "service":
            yield obj


def check_hardening(report, target, objects):
    for deploy in service_deployments(objects):
        where = f"{target} {ident(deploy)}"
        pod = deploy["spec"]["template"]["spec"]
        psc = pod.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True:
            report.fail(where, "pod securityContext.runAsNonRoot must be true")
        if pod.get("automountServiceAccountToken") is not False:
            report.fail(where, "automountServiceAccountToken must be false")
        if (pod.get("terminationGracePeriodSeconds") or 30) < 30:
            report.fail(where, "terminationGracePeriodSeconds must be >= 30 (graceful drain)")
        for container in pod.get("containers", []):
            cwhere = f"{where} container {container.get('name')}"
            sc = container.get("securityContext", {})
            seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
            if seccomp != "RuntimeDefault":
                report.fail(cwhere, "seccompProfile must be RuntimeDefault")
            if sc.get("allowPrivilegeEscalation") is not False:
                report.fail(cwhere, "allowPrivilegeEscalation must be false")
            if sc.get("readOnlyRootFilesystem") is not True:
                report.fail(cwhere, "readOnlyRootFilesystem must be true")
            if "ALL" not in (sc.get("capabilities") or {}).get("drop", []):
                report.fail(cwhere, "capabilities.drop must include ALL")
            resources = container.get("resources", {})
            memory = parse_mebibytes((resources.get("limits") or {}).get("memory", ""))
            if memory is None or memory > 128:
                report.fail(cwhere, "limits.memory must be set and at most 128Mi")
            if not (resources.get("requests") or {}).get("cpu") or not (resources.get("requests") or {}).get("memory"):
                report.fail(cwhere, "requests.cpu and requests.memory must be set")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if "grpc" not in (container.get(probe) or {}):
                    report.fail(cwhere, f"{probe} must be a native gRPC probe")
            if not ((container.get("lifecycle") or {}).get("preStop")):
                report.fail(cwhere, "preStop hook missing (endpoints must drain before shutdown)")


def check_pdbs(report, target, objects):
    pdbs = [o for o in objects if o.get("kind") == "PodDisruptionBudget"]
    for deploy in service_deployments(objects):
        labels = deploy["spec"]["template"]["metadata"].get("labels", {})
        covered = any(
            all(labels.get(k) == v for k, v in pdb["spec"].get("selector", {}).get("matchLabels", {}).items())
            for pdb in pdbs)
        if not covered:
            report.fail(f"{target} {ident(deploy)}", "no PodDisruptionBudget selects its pods")


def containers(obj):
    spec = (obj.get("spec") or {}).get("template", {}).get("spec", {})
    return spec.get("containers", []) + spec.get("initContainers", [])


def check_prod(report, target, objects):
    for obj in objects:
        if obj.get("kind") == "Secret":
            report.fail(f"{target} {ident(obj)}", "prod must not render Secrets (reference them; see docs/operations.md)")
        for container in containers(obj):
            image = container.get("image", "")
            tagged = "@sha256:" in image or ":" in image.rsplit("/", 1)[-1]
            if not tagged or image.endswith(":latest"):
                report.fail(f"{target} {ident(obj)}", f"image {image!r} is not pinned to a tag or digest")
    scaled = {o["spec"]["scaleTargetRef"]["name"]: o for o in objects if o.get("kind") == "ScaledObject"}
    for deploy in service_deployments(objects):
        where = f"{target} {ident(deploy)}"
        if "replicas" in deploy["spec"]:
            report.fail(where, "spec.replicas set: the KEDA-managed HPA owns the replica count")
        so = scaled.get(deploy["metadata"]["name"])
        if so is None:
            report.fail(where, "no ScaledObject targets it")
        elif so["spec"].get("minReplicaCount", 0) < 2:
            report.fail(where, "ScaledObject minReplicaCount must be >= 2 in prod")


def referenced_secrets(node, found):
    """Names of Secrets referenced anywhere in `node`, with whether the reference is optional."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("secretKeyRef", "secretRef", "passwordSecret", "importCredentialsSecret",
                       "superuserSecret") and isinstance(value, dict) and "name" in value:
                found.setdefault(value["name"], True)
                found[value["name"]] &= bool(value.get("optional"))
            elif key == "secretTargetRef" and isinstance(value, list):
                for item in value:
                    found[item["name"]] = False
            elif key == "s3Credentials" and isinstance(value, dict):
                for item in value.values():
                    if isinstance(item, dict) and "name" in item:
                        found[item["name"]] = False
            elif key == "secret" and isinstance(value, dict) and "secretName" in value:
                found[value["secretName"]] = bool(value.get("optional"))
            else:
                referenced_secrets(value, found)
    elif isinstance(node, list):
        for item in node:
            referenced_secrets(item, found)
    return found


# ------------------------------------------------------------------------------ strictness proof

def prove_strict(report, validator, target, objects, seen):
    """For each kind not yet probed: an unknown field must be rejected."""
    probes = 0
    for obj in objects:
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key in seen or validator.errors(obj):
            continue
        seen.add(key)
        broken = copy.deepcopy(obj)
        holder = broken["spec"] if isinstance(broken.get("spec"), dict) else broken
        holder["lapor-typo-check"] = True
        if not validator.errors(broken):
            report.fail(f"{target} {ident(obj)}", "schema accepted an unknown field: it is not strict")
        probes += 1
    return probes


# ------------------------------------------------------------------------------ compose, otel

def check_compose(report, path):
    base = importlib.resources.files("check_jsonschema").joinpath("builtin_schemas", "vendor", "compose-spec.json")
    with importlib.resources.as_file(base) as file, open(file) as handle:
        schema = json.load(handle)
    with open(path) as handle:
        compose = yaml.safe_load(handle)  # PyYAML resolves the `<<` merge keys
    where = os.path.relpath(path, ROOT)
    # The schema names its own draft (2020-12: unevaluatedProperties closes each service).
    for error in jsonschema.validators.validator_for(schema)(schema).iter_errors(compose):
        report.fail(where, f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}")
    services = compose.get("services", {})
    for name, service in services.items():
        for dep, condition in (service.get("depends_on") or {}).items():
            if dep not in services:
                report.fail(where, f"{name} depends on undefined service {dep}")
            elif condition.get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
                report.fail(where, f"{name} waits for {dep} to be healthy, but {dep} has no healthcheck")
        build = service.get("build")
        if isinstance(build, dict):
            if build.get("args", {}).get("SERVICE") not in SERVICES:
                report.fail(where, f"{name}: build arg SERVICE must be one of {SERVICES}")
            dockerfile = os.path.join(os.path.dirname(path), build.get("context", "."), build.get("dockerfile", "Dockerfile"))
            if not os.path.exists(dockerfile):
                report.fail(where, f"{name}: Dockerfile {dockerfile} not found")
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else ""
            if source.startswith("."):
                if not os.path.exists(os.path.join(os.path.dirname(path), source)):
                    report.fail(where, f"{name}: bind-mounted {source} not found")
    return len(services)


def check_otel(report, path):
    where = os.path.relpath(path, ROOT)
    with open(path) as handle:
        config = yaml.safe_load(handle)
    service = config.get("service", {})
    for extension in service.get("extensions", []):
        if extension not in (config.get("extensions") or {}):
            report.fail(where, f"service.extensions names undefined extension {extension}")
    pipelines = service.get("pipelines", {})
    if not pipelines:
        report.fail(where, "no pipelines")
    for name, pipeline in pipelines.items():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline.get(section, []):
                if component not in (config.get(section) or {}):
                    report.fail(where, f"pipeline {name} names undefined {section[:-1]} {component}")
        if not pipeline.get("receivers") or not pipeline.get("exporters"):
            report.fail(where, f"pipeline {name} needs receivers and exporters")


# ------------------------------------------------------------------------------ main

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubectl", required=True)
    parser.add_argument("--kubernetes-version", default="1.33")
    parser.add_argument("--schemas", default=SCHEMAS)
    parser.add_argument("targets", nargs="+", help="kustomize directories under k8s/")
    args = parser.parse_args()

    report = Report()
    validator = Validator(args.kubernetes_version, args.schemas)
    check_schemas_fresh(report)

    seen_kinds, probes, summary = set(), 0, []
    for target in args.targets:
        try:
            objects = render(args.kubectl, target)
        except RuntimeError as error:
            report.fail(target, str(error))
            continue
        kinds = {}
        for obj in objects:
            kinds[obj.get("kind")] = kinds.get(obj.get("kind"), 0) + 1
            for message in validator.errors(obj):
                report.fail(f"{target} {ident(obj)}", message)
        check_hardening(report, target, objects)
        check_pdbs(report, target, objects)
        if target.endswith("prod"):
            check_prod(report, target, objects)
        secrets = referenced_secrets(objects, {})
        generated = {o["metadata"]["name"] for o in objects if o.get("kind") == "Secret"}
        expected = sorted(name for name in secrets if name not in generated)
        if generated:  # an overlay that generates Secrets must generate every required one
            for name in expected:
                if not secrets[name]:
                    report.fail(target, f"references Secret {name} but does not generate it")
        probes += prove_strict(report, validator, target, objects, seen_kinds)
        listed = [name + (" (optional)" if secrets[name] else "") for name in expected]
        summary.append((target, len(objects), kinds, listed if not generated else []))

    compose_services = check_compose(report, os.path.join(ROOT, "deploy", "compose.yaml"))
    for otel in ("deploy/otel-collector.yaml", "k8s/components/otel-collector/config.yaml"):
        check_otel(report, os.path.join(ROOT, otel))

    print(f"k8s-validate: Kubernetes {args.kubernetes_version} schemas (strict) + k8s/schemas CRDs")
    for target, count, kinds, expected in summary:
        detail = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        print(f"  {target:<14} {count:>3} objects validated ({detail})")
        if expected:
            print(f"  {'':<14} Secrets to create before applying: {', '.join(expected)}")
    print(f"  strictness     {probes} kinds probed with an unknown field (each must fail)")
    print(f"  compose        deploy/compose.yaml: {compose_services} services against the Compose spec")
    print("  otel           deploy/otel-collector.yaml, k8s/components/otel-collector/config.yaml")
    if report.errors:
        print(f"\nFAILED: {len(report.errors)} problem(s)", file=sys.stderr)
        for error in report.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    print("k8s-validate: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
