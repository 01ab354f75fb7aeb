"""``hack/demo`` end to end (its Python part; hack/setup is the lead's): the seed scenario, a measured failover,
the BGP variant, and nothing left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hack.lab.cluster import speaker_available
from tests.conftest import requires_netns

REPO = Path(__file__).resolve().parents[3]


@requires_netns
@pytest.mark.netns
@pytest.mark.lab
@pytest.mark.slow
@pytest.mark.skipif(not speaker_available(), reason="needs ironlb-speaker")
def test_demo_replays_the_seed_measures_a_failover_and_cleans_up() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hack.lab.demo"], cwd=REPO, capture_output=True, text=True, timeout=240, check=False
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "the pool is 198.51.100.100-198.51.100.200" in out
    assert "service/whoami       LoadBalancer" in out and "198.51.100.100" in out
    assert out.count("Hostname: whoami-") >= 4  # two answers on the LAN, two through the router
    assert "Requests were answered again" in out or "No request failed" in out
    assert out.count("nexthop via 192.0.2.") >= 2
    assert "nothing left behind." in out
