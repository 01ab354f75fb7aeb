"""The seed scenario (/work/shared/seed.md), replayed with kubectl: a MetalLB user's pool, L2Advertisement and whoami.

The pool is the seed's, moved to a documentation range: 10.244.244.100-10.244.244.200 becomes
198.51.100.100-198.51.100.200 in the lab (a real cluster's description gives its own range).
"""

from __future__ import annotations

import ipaddress

import yaml

from e2e.target import E2E_DIR, Target
from hack.lab.kubeapi import load_yaml


def _seed_pool(target: Target) -> str:
    text = (E2E_DIR / "data" / "l2-pool.yaml").read_text()
    if target.is_lab:
        return text
    docs = load_yaml(text)
    docs[0]["spec"]["addresses"] = [target.block4(target.SEED_BLOCK)]
    return yaml.safe_dump_all(docs)


def test_seed_scenario_answers_through_the_external_ip(target: Target) -> None:
    pool_yaml = _seed_pool(target)
    whoami_yaml = (E2E_DIR / "data" / "whoami.yaml").read_text()
    target.kubectl("apply", "-f", "-", input=pool_yaml)
    target.kubectl("apply", "-f", "-", input=whoami_yaml)
    try:
        ips = target.kube.wait_ingress("whoami", "default", timeout=30)
        assert len(ips) == 1, ips
        ip = ips[0]
        first, last = load_yaml(pool_yaml)[0]["spec"]["addresses"][0].split("-")
        assert ipaddress.IPv4Address(first) <= ipaddress.IPv4Address(ip) <= ipaddress.IPv4Address(last)

        table = target.kubectl("get", "svc", "whoami").stdout
        row = next(line.split() for line in table.splitlines() if line.startswith("whoami"))
        assert row[1] == "LoadBalancer" and row[3] == ip, table
        assert row[4].startswith("80:"), table

        target.wait_ready("whoami", "default", 2)
        for _ in range(2):
            answer = target.answer("client", f"http://{ip}/")
            assert answer.startswith("Hostname: whoami-"), answer
            assert f"Host: {ip}" in answer, answer
            assert "RemoteAddr: " in answer and "GET / HTTP/1.1" in answer, answer
    finally:
        target.kubectl("delete", "-f", "-", "--wait=true", "--timeout=60s", input=whoami_yaml, check=False)
        target.kubectl("delete", "-f", "-", input=pool_yaml, check=False)
        target.kube.wait_gone("v1", "Service", "whoami", "default", timeout=60)
