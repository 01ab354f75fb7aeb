"""ironlb's install artefacts, generated from one source: the kustomize directories under ``manifests/``.

* ``python -m hack.manifests render``: ``kubectl kustomize manifests/base`` -> ``manifests/ironlb.yaml``
  (for ``kubectl apply -f``);
* ``python -m hack.manifests helm``: the same objects -> ``charts/ironlb/templates/*.yaml``, with Helm values
  substituted at known places (``hack.manifests.helm``);
* ``python -m hack.manifests check``: fails when either committed output differs from what the sources give
  (CI runs it through ``tests/manifests/test_install.py``).

Helpers shared with the tests: ``crdschema`` (the metallb.io CRD schemas applied as an API server would),
``gotemplate`` (a renderer for the Go-template subset the chart uses), ``rbac`` (who may do what under the
rendered Roles), ``markdown`` (the YAML blocks of the docs).
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MANIFESTS_DIR = REPO / "manifests"
BASE_DIR = MANIFESTS_DIR / "base"
OVERLAYS_DIR = MANIFESTS_DIR / "overlays"
RENDERED = MANIFESTS_DIR / "ironlb.yaml"
CHART_DIR = REPO / "charts" / "ironlb"
DOCS_DIR = REPO / "docs"
NAMESPACE = "metallb-system"

__all__ = ["BASE_DIR", "CHART_DIR", "DOCS_DIR", "MANIFESTS_DIR", "NAMESPACE", "OVERLAYS_DIR", "RENDERED", "REPO"]
