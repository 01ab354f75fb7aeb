"""``ironlbctl convert``: YAML on standard output that ``ironlbctl validate`` accepts and that means the same."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ironlb.config import ConfigSources, parse, yamlload
from ironlb.ctl.inputs import read_inputs
from ironlb.ctl.main import main

DATA = Path(__file__).parents[2] / "data" / "config"
LEGACY_FILES = sorted(DATA.glob("legacy-*.yaml"))


def config_of(path: Path) -> object:
    inputs = read_inputs([str(path)], namespace="metallb-system")
    return parse(ConfigSources(objects=inputs.objects, legacy_config=inputs.legacy_config)).config


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in LEGACY_FILES])
def test_convert_then_validate(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Converted from the legacy MetalLB ConfigMap")
    converted = tmp_path / "crs.yaml"
    converted.write_text(out)
    assert all(doc["apiVersion"].startswith("metallb.io/") for doc in yamlload.load_all(out))
    assert main(["validate", str(converted)]) == 0
    assert capsys.readouterr().out.startswith("valid: ")
    assert config_of(converted) == config_of(path)


def test_output_file_and_namespace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out.yaml"
    assert main(["convert", "-n", "lb", "-o", str(target), str(DATA / "legacy-layer2.yaml")]) == 0
    assert capsys.readouterr().out == ""
    documents = yamlload.load_all(target.read_text())
    assert [d["kind"] for d in documents] == ["IPAddressPool", "L2Advertisement"]
    assert {d["metadata"]["namespace"] for d in documents} == {"lb"}


def test_the_configmap_namespace_is_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = (DATA / "legacy-layer2.yaml").read_text().replace("namespace: metallb-system", "namespace: lb-system")
    path = tmp_path / "cm.yaml"
    path.write_text(source)
    assert main(["convert", str(path)]) == 0
    documents = yamlload.load_all(capsys.readouterr().out)
    assert {d["metadata"]["namespace"] for d in documents} == {"lb-system"}


def test_standard_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO((DATA / "legacy-bare.yaml").read_text()))
    assert main(["convert", "-"]) == 0
    assert [d["kind"] for d in yamlload.load_all(capsys.readouterr().out)] == ["IPAddressPool", "L2Advertisement"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec: {addresses: "
            "[192.0.2.0/24]}\n",
            "holds no legacy MetalLB configuration",
            id="not-a-configmap",
        ),
        pytest.param(
            "address-pools: [{name: p, protocol: layer3, addresses: [192.0.2.0/24]}]\n",
            "unknown protocol",
            id="invalid",
        ),
        pytest.param("a: [\n", "is not valid YAML", id="not-yaml"),
    ],
)
def test_failures_go_to_standard_error(
    tmp_path: Path, text: str, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "in.yaml"
    path.write_text(text)
    assert main(["convert", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and fragment in captured.err
