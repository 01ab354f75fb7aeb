"""The ccm Deployment and the speaker DaemonSet: the command lines are ones the daemons accept, the probes reach
what the flags serve, and the security settings are the ones docs/install.md promises.

The ccm's arguments are parsed by ccm/options.py itself. The speaker's are checked against the command-line
contract (SPEAKER-CLI, transcribed below; compared with the brief's copy when it is on this machine) until the
speaker's own parser exists.
"""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccm.options import CONTROLLERS, parse_options
from hack.manifests import BASE_DIR, CHART_DIR, NAMESPACE, REPO
from hack.manifests.kustomize import render

Json = dict[str, Any]
CONTRACT = Path("/work/brief/SPEAKER-CLI.md")
#: Every flag of the speaker's command-line contract (SPEAKER-CLI).
SPEAKER_FLAGS = {
    "--node-name", "--config-namespace", "--kubeconfig", "--master", "--load-balancer-class", "--legacy-configmap",
    "--excluded-interfaces-configmap", "--ignore-exclude-lb", "--bind-address", "--port", "--status-address",
    "--membership", "--ml-bind-addr", "--ml-bind-port", "--ml-secret-name", "--ml-labels", "--ml-detection-scale",
    "--l2-probe", "--gratuitous-refresh", "--bgp-graceful-shutdown", "--log-level", "--log-format",
}  # fmt: skip
#: The environment the contract says the DaemonSet sets, and from which downward-API field.
SPEAKER_ENV = {
    "METALLB_NODE_NAME": "spec.nodeName",
    "METALLB_NAMESPACE": "metadata.namespace",
    "METALLB_ML_BIND_ADDR": "status.podIP",
    "POD_NAME": "metadata.name",
}
ML_LABELS_DEFAULT = "app.kubernetes.io/name=ironlb,app.kubernetes.io/component=speaker"
STATUS_SOCKET_DEFAULT = "/run/ironlb/speaker.sock"
BGP_GRACEFUL_SHUTDOWN_DEFAULT = 2


@functools.cache
def _base() -> tuple[Json, ...]:
    return tuple(render(BASE_DIR))


def workload(kind: str) -> Json:
    obj = next(o for o in _base() if o["kind"] == kind)
    assert isinstance(obj, dict)
    return obj


def pod(kind: str) -> Json:
    spec: Json = workload(kind)["spec"]["template"]["spec"]
    return spec


def container(kind: str) -> Json:
    containers = pod(kind)["containers"]
    assert len(containers) == 1
    only: Json = containers[0]
    return only


def flags(args: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for arg in args:
        name, _, value = arg.partition("=")
        found[name] = value
    return found


def port(kind: str, name: str) -> Json:
    found: Json = next(p for p in container(kind)["ports"] if p["name"] == name)
    return found


# --- ironlb-ccm -----------------------------------------------------------------------------------------------


def test_ccm_arguments_parse_with_the_ccms_own_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """The flags as ccm/options.py reads them, with the environment the Deployment sets (namespace from the
    downward API)."""
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container("Deployment")["env"]}
    assert env == {"METALLB_NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"}
    monkeypatch.setenv("METALLB_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("POD_NAME", "ironlb-ccm-7d9f-abcde")
    assert container("Deployment")["command"] == ["ironlb-ccm"]
    options = parse_options(container("Deployment")["args"])
    assert options.cloud_provider == "ironlb"
    assert options.leader_elect is True
    assert options.leader_elect_resource_namespace == NAMESPACE
    assert options.config_namespace == NAMESPACE
    assert options.controllers == frozenset(CONTROLLERS)
    assert options.load_balancer_class is None
    assert options.identity.startswith("ironlb-ccm-7d9f-abcde_")
    assert options.notes == ()


def test_ccm_runs_two_replicas_spread_over_nodes() -> None:
    deployment = workload("Deployment")
    assert deployment["spec"]["replicas"] == 2
    terms = pod("Deployment")["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert terms[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert terms[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    pdb = workload("PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": deployment["spec"]["selector"]}


def test_ccm_probes_reach_what_secure_port_serves() -> None:
    c = container("Deployment")
    served = int(flags(c["args"])["--secure-port"])
    assert served == 10258
    assert port("Deployment", "metrics")["containerPort"] == served
    assert (c["livenessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["path"]) == ("/healthz", "/readyz")
    for probe in (c["livenessProbe"], c["readinessProbe"]):
        assert probe["httpGet"]["port"] == "metrics"
        assert probe["httpGet"]["scheme"] == "HTTP"  # plain HTTP today; the manifest says so


def test_ccm_runs_unprivileged() -> None:
    spec, c = pod("Deployment"), container("Deployment")
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65534,
        "runAsGroup": 65534,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert "hostNetwork" not in spec


def test_ccm_tolerates_the_uninitialized_taint_and_the_control_plane() -> None:
    tolerations = pod("Deployment")["tolerations"]
    assert {"key": "node.cloudprovider.kubernetes.io/uninitialized", "operator": "Equal", "value": "true",
            "effect": "NoSchedule"} in tolerations  # fmt: skip
    assert {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"} in tolerations


# --- ironlb-speaker -------------------------------------------------------------------------------------------


def test_speaker_flags_are_in_the_command_line_contract() -> None:
    c = container("DaemonSet")
    assert c["command"] == ["ironlb-speaker"]
    used = set(flags(c["args"]))
    assert used <= SPEAKER_FLAGS, f"not in the contract: {sorted(used - SPEAKER_FLAGS)}"


def test_the_transcribed_contract_matches_the_brief() -> None:
    if not CONTRACT.exists():
        pytest.skip("the speaker's command-line contract is not on this machine")
    # flags open a line, follow a comma ("--kubeconfig PATH, --master URL") or a wide gap ("(default info)   --x")
    found = set(re.findall(r"(?:^\s*|,\s*|\s{3,})(--[a-z][a-z0-9-]*)", CONTRACT.read_text(), flags=re.MULTILINE))
    assert found == SPEAKER_FLAGS


def test_speaker_environment_is_the_contracts() -> None:
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container("DaemonSet")["env"]}
    assert env == SPEAKER_ENV


def test_speaker_pods_carry_the_labels_membership_finds_them_by() -> None:
    labels = workload("DaemonSet")["spec"]["template"]["metadata"]["labels"]
    wanted = dict(pair.split("=") for pair in ML_LABELS_DEFAULT.split(","))
    assert wanted.items() <= labels.items()
    assert "--ml-labels" not in flags(container("DaemonSet")["args"])  # so the default applies


def test_speaker_is_on_the_host_network_with_only_net_raw() -> None:
    spec, c = pod("DaemonSet"), container("DaemonSet")
    assert spec["hostNetwork"] is True
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW"]}
    assert c["securityContext"]["runAsUser"] == 0
    assert c["securityContext"]["runAsNonRoot"] is False
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert "privileged" not in c["securityContext"]
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_speaker_ports_match_its_flags() -> None:
    args = flags(container("DaemonSet")["args"])
    assert port("DaemonSet", "metrics") == {"name": "metrics", "containerPort": int(args["--port"]), "protocol": "TCP"}
    assert int(args["--port"]) == 9120
    membership = int(args["--ml-bind-port"])
    assert membership == 7946
    assert port("DaemonSet", "memberlist-udp") == {"name": "memberlist-udp", "containerPort": membership,
                                                  "protocol": "UDP"}  # fmt: skip
    assert port("DaemonSet", "memberlist-tcp")["containerPort"] == membership
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container("DaemonSet")[probe]["httpGet"] == {"path": path, "port": "metrics", "scheme": "HTTP"}


def test_membership_secret_is_named_not_mounted() -> None:
    """The speaker reads Secret memberlist (key secretkey) through the API: no volume or env refers to it."""
    assert flags(container("DaemonSet")["args"])["--ml-secret-name"] == "memberlist"
    spec = pod("DaemonSet")
    assert all("secret" not in volume for volume in spec["volumes"])
    assert all("secretKeyRef" not in e.get("valueFrom", {}) for e in container("DaemonSet")["env"])


def test_status_socket_directory_is_an_empty_dir() -> None:
    mounts = {m["mountPath"]: m["name"] for m in container("DaemonSet")["volumeMounts"]}
    socket_dir = str(Path(STATUS_SOCKET_DEFAULT).parent)
    volume = next(v for v in pod("DaemonSet")["volumes"] if v["name"] == mounts[socket_dir])
    assert "emptyDir" in volume
    assert "--status-address" not in flags(container("DaemonSet")["args"])  # the default points there


def test_speaker_tolerates_everything_and_has_time_to_hand_over() -> None:
    spec = pod("DaemonSet")
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["terminationGracePeriodSeconds"] >= 5 * BGP_GRACEFUL_SHUTDOWN_DEFAULT


# --- both -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "priority"), [("Deployment", "system-cluster-critical"),
                                               ("DaemonSet", "system-node-critical")])  # fmt: skip
def test_priority_class(kind: str, priority: str) -> None:
    assert pod(kind)["priorityClassName"] == priority


@pytest.mark.parametrize("kind", ["Deployment", "DaemonSet"])
def test_resources_are_requested_without_a_cpu_limit(kind: str) -> None:
    resources = container(kind)["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "cpu" not in resources.get("limits", {})


@pytest.mark.parametrize("kind", ["Deployment", "DaemonSet"])
def test_no_host_path_volumes(kind: str) -> None:
    assert all(set(volume) <= {"name", "emptyDir"} for volume in pod(kind)["volumes"])


@pytest.mark.parametrize(("kind", "account"), [("Deployment", "ironlb-ccm"), ("DaemonSet", "ironlb-speaker")])
def test_each_workload_runs_as_its_bound_service_account(kind: str, account: str) -> None:
    assert pod(kind)["serviceAccountName"] == account
    subjects = [s for o in _base() if o["kind"].endswith("Binding") for s in o["subjects"]]
    assert {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE} in subjects


@pytest.mark.parametrize("kind", ["Deployment", "DaemonSet"])
def test_the_image_is_this_versions(kind: str) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert container(kind)["image"] == f"ghcr.io/ironlb/ironlb:{version}"
    assert chart["appVersion"] == version
