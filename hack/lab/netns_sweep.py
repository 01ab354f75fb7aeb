"""Remove network namespaces left behind by lab runs that were killed: ``python -m hack.lab.netns_sweep``."""

from __future__ import annotations

from hack.lab.netns import have_netns_privileges, sweep_stale

if __name__ == "__main__":
    if have_netns_privileges():
        for name in sweep_stale():
            print(f"removed stale namespace {name}")
