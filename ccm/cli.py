"""``ironlb-ccm``: parse flags, set up logging, run the cloud-controller-manager."""

from __future__ import annotations

import asyncio
import sys

from ccm.app import CloudControllerManager
from ccm.options import OptionsError, parse_options
from ironlb.obs import logging as obs_logging


def main(argv: list[str] | None = None) -> int:
    try:
        options = parse_options(argv)
    except OptionsError as exc:
        print(f"ironlb-ccm: {exc}", file=sys.stderr)
        return 2
    obs_logging.setup(options.log_level, options.log_format, component="ccm")
    try:
        return asyncio.run(CloudControllerManager(options, freeze_heap=True).run())
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
