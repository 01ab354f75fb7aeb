"""The sans-IO BGP core: no sockets, clocks, threads or netlink (import-linter checks it); time is an argument."""
