"""``ironlb-speaker``: parse flags, set up logging, run the speaker until SIGTERM."""

from __future__ import annotations

import asyncio
import sys

from ironlb.obs import logging as obs_logging
from speaker.options import OptionsError, parse_options


def main(argv: list[str] | None = None) -> int:
    try:
        options = parse_options(argv)
    except OptionsError as exc:
        print(f"ironlb-speaker: {exc}", file=sys.stderr)
        return 2
    obs_logging.setup(options.log_level, options.log_format, component="speaker")
    from speaker.app import Speaker  # after logging: importing the data plane costs a little

    try:
        return asyncio.run(Speaker(options).run())
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
