"""``ironlbctl``: the command-line tool. Each subcommand is one module here exposing ``COMMAND``."""
