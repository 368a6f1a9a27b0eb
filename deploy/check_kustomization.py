"""Offline checks of deploy/k8s, run by deploy/ci-container-test.sh (not part of the package).

    python deploy/check_kustomization.py deploy/k8s path/to/kubernetes-validate

1. Every resource the kustomization lists exists, and every manifest in the folder is listed.
2. Each one validates against the Kubernetes OpenAPI schemas (`kubernetes-validate --strict`:
   unknown fields are errors too).
3. The pieces fit together and keep the promises of docs/deploy.md: the Services, the PDB and
   the topology spread select the Deployment's pods, the HPA scales that Deployment, the
   headless Service is headless, the probes are native gRPC probes on the gRPC port, and the
   pods run non-root with a read-only root filesystem and at least 2 replicas.

Needs PyYAML (a dependency of kubernetes-validate).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml


def main(folder: str, validator: str) -> int:
    root = Path(folder)
    kustomization = yaml.safe_load((root / "kustomization.yaml").read_text())
    listed = list(kustomization["resources"])
    present = sorted(p.name for p in root.glob("*.yaml") if p.name != "kustomization.yaml")
    problems: list[str] = []
    problems += [f"kustomization lists {name}, which does not exist" for name in listed
                 if not (root / name).is_file()]
    problems += [f"{name} is not listed in kustomization.yaml" for name in present if name not in listed]
    if problems:
        return report(problems)

    run = subprocess.run([validator, "--strict", *[str(root / name) for name in listed]])
    if run.returncode != 0:
        return report(["kubernetes-validate --strict failed (output above)"])

    docs = [doc for name in listed for doc in yaml.safe_load_all((root / name).read_text()) if doc]
    by_kind: dict[str, list[dict]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    problems += check_fit(by_kind, kustomization)
    if problems:
        return report(problems)
    names = ", ".join(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
    print(f"deploy/k8s: {len(docs)} resources valid and consistent ({names})")
    return 0


def check_fit(by_kind: dict[str, list[dict]], kustomization: dict) -> list[str]:
    problems: list[str] = []

    def expect(condition: bool, message: str) -> None:
        if not condition:
            problems.append(message)

    (deployment,) = by_kind.get("Deployment", [None])
    if deployment is None:
        return ["no Deployment"]
    spec = deployment["spec"]
    pod = spec["template"]
    labels = pod["metadata"]["labels"]

    def selects(selector: dict) -> bool:
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

    expect(spec.get("replicas", 1) >= 2, "Deployment: fewer than 2 replicas")
    expect(selects(spec["selector"]["matchLabels"]), "Deployment: selector does not match its pods")
    pod_sc = pod["spec"].get("securityContext", {})
    expect(pod_sc.get("runAsNonRoot") is True, "pod securityContext: runAsNonRoot is not true")
    expect(pod_sc.get("runAsUser", 0) != 0, "pod securityContext: runAsUser is root")
    for constraint in pod["spec"].get("topologySpreadConstraints", []):
        expect(selects(constraint["labelSelector"]["matchLabels"]),
               "topologySpreadConstraints: selector does not match the pods")
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    expect("grpc" in ports, "container: no port named grpc")
    for probe in ("readinessProbe", "livenessProbe"):
        grpc = container.get(probe, {}).get("grpc")
        expect(grpc is not None, f"container: {probe} is not a native gRPC probe")
        expect(grpc is None or grpc.get("port") == ports.get("grpc"),
               f"container: {probe} does not probe the gRPC port")
    sc = container.get("securityContext", {})
    expect(sc.get("readOnlyRootFilesystem") is True, "container: root filesystem is not read-only")
    expect(sc.get("allowPrivilegeEscalation") is False, "container: privilege escalation allowed")
    expect("ALL" in sc.get("capabilities", {}).get("drop", []), "container: capabilities not dropped")
    resources = container.get("resources", {})
    expect({"cpu", "memory"} <= set(resources.get("requests", {})), "container: no cpu/memory requests")
    expect({"cpu", "memory"} <= set(resources.get("limits", {})), "container: no cpu/memory limits")
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    grace = float(env.get("WENGERT_GRACE_PERIOD", 10))
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    expect(pre_stop + grace < pod["spec"].get("terminationGracePeriodSeconds", 30),
           "preStop sleep + WENGERT_GRACE_PERIOD must end before terminationGracePeriodSeconds")
    image_names = {i["name"] for i in kustomization.get("images", [])}
    expect(container["image"].split(":")[0] in image_names,
           "kustomization images: does not name the container's image")

    services = by_kind.get("Service", [])
    expect(any(s["spec"].get("clusterIP") == "None" for s in services), "no headless Service")
    expect(any(s["spec"].get("clusterIP") != "None" for s in services), "no ClusterIP Service")
    for service in services:
        name = service["metadata"]["name"]
        expect(selects(service["spec"]["selector"]), f"Service {name}: selector does not match the pods")
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            expect(target in ports or target in ports.values(),
                   f"Service {name}: targetPort {target} is not a container port")

    for hpa in by_kind.get("HorizontalPodAutoscaler", []) or [None]:
        expect(hpa is not None, "no HorizontalPodAutoscaler")
        if hpa:
            ref = hpa["spec"]["scaleTargetRef"]
            expect(ref["kind"] == "Deployment" and ref["name"] == deployment["metadata"]["name"],
                   "HPA: does not scale the Deployment")
            expect(hpa["spec"].get("minReplicas", 1) >= 2, "HPA: minReplicas below 2")
    for pdb in by_kind.get("PodDisruptionBudget", []) or [None]:
        expect(pdb is not None, "no PodDisruptionBudget")
        if pdb:
            expect(selects(pdb["spec"]["selector"]["matchLabels"]), "PDB: selector does not match the pods")
    return problems


def report(problems: list[str]) -> int:
    for problem in problems:
        print(f"deploy/k8s: {problem}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
