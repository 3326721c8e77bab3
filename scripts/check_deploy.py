#!/usr/bin/env python3
"""Checks that deploy/ keeps the promises of docs/deploy.md; prints each breach and exits 1.

  check_deploy.py RENDERED.yaml ROUTES_OUT   the output of `kubectl kustomize deploy/kubernetes`;
                                             writes the routes ConfigMap's routes.json to ROUTES_OUT
  check_deploy.py --unit UNIT_FILE           the systemd unit

The schema validation (kubernetes-validate) says the objects are well formed; this says they are
the ones we mean: a volume per replica, probes on the admin port, the restricted security
context, secrets as whole-folder mounts the reloaders can follow, a grace period longer than the
drain. The drain is read from the source, so a longer drain without a longer grace fails here.
"""
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
problems = []


def check(condition, message):
    if not condition:
        problems.append(message)


def drain_seconds():
    """The longest graceful shutdown `serve` allows itself (Serve/ServeServices.swift)."""
    source = (ROOT / "Sources" / "okra-bridge" / "Serve" / "ServeServices.swift").read_text()
    match = re.search(r"maximumGracefulShutdownDuration = \.seconds\((\d+)\)", source)
    if not match:
        sys.exit("check_deploy: cannot find maximumGracefulShutdownDuration in Serve/ServeServices.swift")
    return int(match.group(1))


def check_kubernetes(rendered, routes_out):
    objects = [o for o in yaml.safe_load_all(pathlib.Path(rendered).read_text()) if o]
    by_kind = {}
    for o in objects:
        by_kind.setdefault(o["kind"], []).append(o)
    for kind in ("StatefulSet", "Service", "PodDisruptionBudget", "ConfigMap"):
        check(kind in by_kind, f"no {kind} rendered")
    if problems:
        return
    (sts,) = by_kind["StatefulSet"]
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    check(spec["selector"]["matchLabels"].items() <= labels.items(), "the StatefulSet's selector does not select its pods")
    claims = [c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])]
    check("data" in claims, "no volume claim template 'data' (a volume per replica for the store)")

    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    check(ports.get("webhook") == 8080 and ports.get("admin") == 9090, f"container ports are {ports}, want webhook 8080 and admin 9090")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") in ("admin", 9090), f"{probe} is not GET {path} on the admin port")

    pod_security = pod.get("securityContext", {})
    security = container.get("securityContext", {})
    check(pod_security.get("runAsNonRoot") is True, "runAsNonRoot is not true")
    check(pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccompProfile is not RuntimeDefault")
    check(security.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem is not true")
    check(security.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
    check(security.get("capabilities", {}).get("drop") == ["ALL"], "capabilities are not all dropped")
    requests = container.get("resources", {}).get("requests", {})
    check("cpu" in requests and "memory" in requests, "no cpu and memory requests")

    grace = pod.get("terminationGracePeriodSeconds", 30)
    check(grace > drain_seconds() + 5, f"terminationGracePeriodSeconds {grace} is not longer than the drain ({drain_seconds()} s) plus 5 s")

    # Every file the bridge is pointed at lies in a mounted folder, and no mount is a subPath:
    # the kubelet never updates a subPath mount, so a reloader would never see a change.
    mounts = container.get("volumeMounts", [])
    for mount in mounts:
        check("subPath" not in mount and "subPathExpr" not in mount, f"volume {mount['name']} is mounted with subPath: its updates would never arrive")
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for name in ("OKRA_BRIDGE_ROUTES", "OKRA_BRIDGE_TOKEN_FILE", "OKRA_BRIDGE_ADMIN_TOKEN_FILE", "OKRA_BRIDGE_LOG_KEY_FILE", "OKRA_BRIDGE_KAFKA_CONFIG"):
        path = env.get(name)
        check(path is not None, f"{name} is not set")
        if path is None:
            continue
        holder = [m for m in mounts if path.startswith(m["mountPath"].rstrip("/") + "/")]
        check(bool(holder), f"{name}={path} is in no mounted volume")
        for mount in holder:
            volume = volumes.get(mount["name"], {})
            kind = "configMap" if name == "OKRA_BRIDGE_ROUTES" else "secret"
            check(kind in volume, f"{name}={path} is not in a {kind} volume")
    check(env.get("OKRA_BRIDGE_DATA_DIR") in [m["mountPath"] for m in mounts if m["name"] == "data"], "OKRA_BRIDGE_DATA_DIR is not the data volume's mount")
    check(any(m["mountPath"] == "/tmp" for m in mounts), "no writable /tmp under the read-only root")

    # The routes ConfigMap keeps its name (an edit must reach the running pods, not roll them).
    routes_maps = [c for c in by_kind["ConfigMap"] if "routes.json" in c.get("data", {})]
    check(len(routes_maps) == 1, "no ConfigMap holds routes.json")
    if routes_maps:
        routes_map = routes_maps[0]
        mounted = [v for v in volumes.values() if v.get("configMap", {}).get("name") == routes_map["metadata"]["name"]]
        check(bool(mounted), "the routes ConfigMap is not mounted")
        check(routes_map["metadata"]["name"] == "okra-bridge-routes", "the routes ConfigMap has a hash suffix: an edit would roll the pods instead of reloading")
        pathlib.Path(routes_out).write_text(routes_map["data"]["routes.json"])

    for service in by_kind["Service"]:
        check(service["spec"]["selector"].items() <= labels.items(), f"Service {service['metadata']['name']} does not select the pods")
    (pdb,) = by_kind["PodDisruptionBudget"]
    check(pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(), "the PodDisruptionBudget does not select the pods")
    webhook = [s for s in by_kind["Service"] if any(p.get("targetPort") in ("webhook", 8080) for p in s["spec"]["ports"])]
    check(bool(webhook), "no Service for the webhook port")
    check(spec.get("serviceName") in [s["metadata"]["name"] for s in by_kind["Service"]], "the StatefulSet's serviceName is not a rendered Service")


def check_unit(path):
    settings = {}
    text = pathlib.Path(path).read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)

    def one(key):
        return settings.get(key, [""])[-1]

    check(any("routes check" in v for v in settings.get("ExecStartPre", [])), "no ExecStartPre=okra-bridge routes check")
    check(one("StateDirectory") != "", "no StateDirectory for the store")
    check("${STATE_DIRECTORY}" in one("ExecStart"), "serve's --data-dir is not the state directory")
    for key, value in (("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes")):
        check(one(key) == value, f"{key} is not {value}")
    check(one("RestrictAddressFamilies") != "", "no RestrictAddressFamilies")
    check("@system-service" in settings.get("SystemCallFilter", []), "no SystemCallFilter=@system-service")
    check(one("KillSignal") == "SIGTERM", "KillSignal is not SIGTERM")
    match = re.fullmatch(r"(\d+)s?", one("TimeoutStopSec"))
    check(bool(match) and int(match.group(1)) > drain_seconds() + 5, f"TimeoutStopSec {one('TimeoutStopSec')} is not longer than the drain ({drain_seconds()} s) plus 5 s")
    execstart = one("ExecStart")
    check("--token " not in execstart and "--admin-token " not in execstart, "a secret on the command line (--token or --admin-token)")
    check("--token-file" in execstart, "tokens are not read from a file")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--unit"]:
        check_unit(sys.argv[2])
    else:
        check_kubernetes(sys.argv[1], sys.argv[2])
    for problem in problems:
        print(f"check_deploy: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)
