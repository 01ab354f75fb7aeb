"""A Kubernetes API server emulator (kube-apiserver 1.30 semantics) for tests, the lab and the demo.

There is no kube-apiserver binary on these machines, so everything that talks to Kubernetes is tested against
this: the official Python client and the installed kubectl work against it unchanged. It is a dev/test tool
(like envtest), not something to run in production.

Layout, by job:

* :mod:`.store` - objects, the cluster-wide resourceVersion, history, compaction, watchers;
* :mod:`.cluster` / :mod:`.writes` - reads and writes with the generic registry's rules;
* :mod:`.strategies`, :mod:`.defaults`, :mod:`.validation`, :mod:`.services` + :mod:`.service_validation`,
  :mod:`.events` - per-kind rules;
* :mod:`.schemas` (built-in OpenAPI schemas), :mod:`.structural` + :mod:`.cel` (CRD schemas), :mod:`.crds`;
* :mod:`.patch` (merge, JSON and strategic merge patches), :mod:`.selectors`;
* :mod:`.handlers`, :mod:`.watch`, :mod:`.codec`, :mod:`.discovery`, :mod:`.tables` + :mod:`.printers` - HTTP;
* :mod:`.auth`, :mod:`.rbac` - tokens and RBAC; :mod:`.controllers` - namespace, GC, CRD cleanup;
* :mod:`.server` - :class:`ApiServer` (asyncio) and :class:`ApiServerThread` (background thread).
"""

from __future__ import annotations

from hack.lab.apiserver.errors import ApiError
from hack.lab.apiserver.server import ApiServer, ApiServerThread, write_kubeconfig

__all__ = ["ApiError", "ApiServer", "ApiServerThread", "write_kubeconfig"]
