"""The install docs say what the manifests do: links resolve, the values files shown pass the chart's schema, the
membership Secret is created the one way we document, the flags named exist, and the coming-from-MetalLB page
lists the annotations and node-lifecycle annotations the code actually uses. (Every object in the docs is checked
against the schemas in test_install.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped, unused-ignore]

from ccm.options import build_parser
from ccm.provider.instances import ANN_MACHINE_REMOVED, ANN_MACHINE_SHUTDOWN
from hack.manifests import CHART_DIR, DOCS_DIR
from hack.manifests.helm import chart_values, merge_values
from hack.manifests.markdown import yaml_blocks
from ironlb.api import names

PAGES = ["install.md", "configure.md", "upgrade.md", "uninstall.md", "coming-from-metallb.md", "troubleshooting.md"]
MEMBERLIST_LINE = (
    'kubectl create secret generic -n metallb-system memberlist --from-literal=secretkey="$(openssl rand -base64 128)"'
)


def markdown_files() -> list[Path]:
    return [*sorted(DOCS_DIR.glob("*.md")), CHART_DIR / "README.md"]


def test_every_page_exists() -> None:
    assert sorted(p.name for p in DOCS_DIR.glob("*.md")) == sorted(PAGES)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", path.read_text(), flags=re.MULTILINE)}


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.name)
def test_relative_links_and_anchors_resolve(path: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        assert linked.exists(), f"{path.name}: link to missing {target}"
        if anchor:
            assert anchor in _anchors(linked), f"{path.name}: no heading for #{anchor} in {linked.name}"


def helm_values_blocks() -> list[tuple[str, dict[str, Any]]]:
    top = set(chart_values())
    found = []
    for path in markdown_files():
        for block in yaml_blocks(path):
            for doc in block.documents():
                if isinstance(doc, dict) and "apiVersion" not in doc and doc.keys() <= top and doc:
                    found.append((block.where, doc))
    return found


def test_the_docs_show_helm_values() -> None:
    shown = {where.split(":")[0] for where, _ in helm_values_blocks()}
    assert shown == {"install.md", "README.md"}


@pytest.mark.parametrize("where_values", helm_values_blocks(), ids=lambda wv: wv[0])
def test_helm_values_in_the_docs_pass_the_schema(where_values: tuple[str, dict[str, Any]]) -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    errors = list(Draft7Validator(schema).iter_errors(merge_values(chart_values(), where_values[1])))
    assert errors == []


def test_install_creates_the_membership_secret_with_the_one_documented_line() -> None:
    text = (DOCS_DIR / "install.md").read_text()
    assert MEMBERLIST_LINE in text
    assert text.count(MEMBERLIST_LINE) >= 3  # one per install method
    assert "openssl rand -base64 128" in (CHART_DIR / "templates" / "NOTES.txt").read_text()


def test_ccm_flags_named_in_the_docs_exist() -> None:
    known = {opt for action in build_parser()._actions for opt in action.option_strings}
    text = " ".join(p.read_text() for p in markdown_files())
    ccm_flag = r"`(--(?:controllers|load-balancer-class|legacy-configmap|secure-port|leader-elect)[a-z-]*)"
    named = set(re.findall(ccm_flag, text))
    assert named, "the docs name no ccm flag"
    assert named <= known


def test_coming_from_metallb_lists_what_the_code_reads() -> None:
    text = (DOCS_DIR / "coming-from-metallb.md").read_text()
    for short in (names.ANN_ADDRESS_POOL, names.ANN_LOADBALANCER_IPS, names.ANN_ALLOW_SHARED_IP):
        assert f"`{names.ANNOTATION_PREFIX}{short}`" in text
    assert f"`{names.LEGACY_ANNOTATION_PREFIX}`" in text
    for annotation in (ANN_MACHINE_REMOVED, ANN_MACHINE_SHUTDOWN):
        assert f'`{annotation}: "true"`' in text
    assert names.LB_CLEANUP_FINALIZER in text
    assert "ironlbctl convert" in text and "ironlbctl validate" in text
