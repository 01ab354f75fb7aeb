"""``ironlbctl validate``: every example file passes, every error is one sentence per line, exit codes."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest

from ironlb.ctl.main import main

DATA = Path(__file__).parents[2] / "data" / "config"
FIXTURES = sorted(DATA.glob("*.yaml"))


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in FIXTURES])
def test_every_example_file_is_valid(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("valid: ") and out.count("\n") == 1


def test_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DATA / "seed-first-pool.yaml")]) == 0
    assert capsys.readouterr().out == (
        "valid: 1 pool, 1 L2Advertisement, 0 BGPAdvertisements, 0 BGPPeers, 0 BFDProfiles, 0 community aliases "
        "(2 objects in 1 file)\n"
    )


def test_several_files_are_one_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(DATA / f) for f in ("seed-first-pool.yaml", "bgp-advanced.yaml", "service-allocation.yaml")]
    assert main(["validate", *files]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("valid: 5 pools, 2 L2Advertisements, 1 BGPAdvertisement, 4 BGPPeers")
    assert "v1beta1 BGPPeer is deprecated" in captured.err


INVALID = """
    apiVersion: metallb.io/v1beta1
    kind: IPAddressPool
    metadata:
      name: first-pool
      namespace: metallb-system
    spec:
      addresses:
      - 10.0.0.0/33
      - 10.0.0.20-10.0.0.10
    ---
    apiVersion: metallb.io/v1beta2
    kind: BGPPeer
    metadata:
      name: router
      namespace: metallb-system
    spec:
      myASN: 64500
      peerASN: 64501
      peerAddress: 192.0.2.1
      holdTime: 1s
      bfdProfile: missing
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: unrelated
"""


def test_every_error_is_printed_one_per_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", write(tmp_path, INVALID)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        'BGPPeer "router": spec.holdTime "1s" is too short: invalid hold time "1s": must be 0 or >=3s (RFC 4271 '
        "section 4.2); write 0s to disable keepalives or at least 3s.",
        'IPAddressPool "first-pool": spec.addresses[0] "10.0.0.0/33" is neither a CIDR nor a range; write a CIDR such '
        "as 192.0.2.0/24 or a range such as 192.0.2.10-192.0.2.20.",
        'IPAddressPool "first-pool": spec.addresses[1] "10.0.0.20-10.0.0.10" is not a valid range: start IP '
        '"10.0.0.20" is after the end IP "10.0.0.10"; write the lower address first.',
        'BGPPeer "router": spec.bfdProfile "missing" names no BFDProfile: peer router referencing non existing bfd '
        "profile missing; create the BFDProfile or remove the reference.",
    ]


def test_allow_missing_turns_transient_errors_into_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = """
        apiVersion: metallb.io/v1beta2
        kind: BGPPeer
        metadata: {name: router, namespace: metallb-system}
        spec: {myASN: 1, peerASN: 2, peerAddress: 192.0.2.1, bfdProfile: later, passwordSecret: {name: later}}
    """
    path = write(tmp_path, text)
    assert main(["validate", path]) == 1
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["validate", "--allow-missing", path]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("valid, apart from references to objects that do not exist yet")
    assert captured.err.count("warning: ") == 2


def test_namespaces_secrets_and_nodes_in_the_files_are_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = """
        apiVersion: v1
        kind: Secret
        metadata: {name: pw, namespace: metallb-system}
        type: kubernetes.io/basic-auth
        stringData: {password: hunter2}
        ---
        apiVersion: v1
        kind: Namespace
        metadata: {name: team-a, labels: {team: a}}
        ---
        apiVersion: v1
        kind: Node
        metadata: {name: n1, labels: {rack: "1", zone: z}}
        ---
        apiVersion: metallb.io/v1beta2
        kind: BGPPeer
        metadata: {name: router, namespace: metallb-system}
        spec: {myASN: 1, peerASN: 2, peerAddress: 192.0.2.1, passwordSecret: {name: pw}}
        ---
        apiVersion: metallb.io/v1beta1
        kind: IPAddressPool
        metadata: {name: p, namespace: metallb-system}
        spec:
          addresses: [192.0.2.0/24]
          serviceAllocation: {namespaceSelectors: [{matchLabels: {team: a}}]}
        ---
        apiVersion: metallb.io/v1beta1
        kind: BGPAdvertisement
        metadata: {name: a, namespace: metallb-system}
        spec: {localPref: 1, nodeSelectors: [{matchLabels: {rack: "1"}}]}
        ---
        apiVersion: metallb.io/v1beta1
        kind: BGPAdvertisement
        metadata: {name: b, namespace: metallb-system}
        spec: {localPref: 2, nodeSelectors: [{matchLabels: {zone: z}}]}
    """
    assert main(["validate", write(tmp_path, text)]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "invalid local preference 2" in out  # n1 carries both selectors' labels


def test_kubectl_list_output_and_status_kinds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = """
        apiVersion: v1
        kind: List
        items:
        - apiVersion: metallb.io/v1beta1
          kind: IPAddressPool
          metadata: {name: p, namespace: metallb-system}
          spec: {addresses: [192.0.2.0/24]}
        - apiVersion: metallb.io/v1beta1
          kind: ServiceL2Status
          metadata: {name: l2-abcde, namespace: metallb-system}
    """
    assert main(["validate", write(tmp_path, text)]) == 0
    assert capsys.readouterr().out.endswith("(2 objects in 1 file; ignored 1 ServiceL2Status)\n")


def test_standard_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO((DATA / "legacy-bgp.yaml").read_text()))
    assert main(["validate", "-"]) == 0
    captured = capsys.readouterr()
    assert "including a legacy ConfigMap" in captured.out
    assert "warning: the legacy MetalLB ConfigMap format is deprecated" in captured.err


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("a: [\n", "is not valid YAML", id="yaml-syntax"),
        pytest.param("a: 1\na: 2\n", "duplicate key", id="duplicate-key"),
        pytest.param("- 1\n- 2\n", "is not a Kubernetes object", id="a-list-document"),
        pytest.param(
            "kind: ConfigMap\nmetadata: {name: c}\ndata: {config: 'address-pools: []'}\n---\naddress-pools: []\n",
            "a second legacy MetalLB configuration",
            id="two-legacy-configurations",
        ),
        pytest.param(
            "kind: ConfigMap\nmetadata: {name: c}\ndata: {config: [1]}\n", "must be a string", id="config-not-text"
        ),
    ],
)
def test_problems_with_the_files(tmp_path: Path, text: str, fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, text)
    assert main(["validate", path]) == 1
    out = capsys.readouterr().out
    assert out.startswith(path) and fragment in out


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "nope.yaml")
    assert main(["validate", missing]) == 1
    assert capsys.readouterr().out == f"{missing}: cannot be read: No such file or directory.\n"


def test_custom_namespace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(DATA / "seed-first-pool.yaml")
    assert main(["validate", "--namespace", "ironlb-system", path]) == 1
    assert "resource must be created in ironlb-system namespace" in capsys.readouterr().out
