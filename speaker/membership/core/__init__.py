"""The sans-IO membership protocol: codec, replay guard, member table, failure detector and the protocol object.

Nothing here reads a clock, opens a socket or starts a thread (import-linter enforces it); see protocol.py.
"""
