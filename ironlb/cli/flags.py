"""The flags and flag checks both daemons share: one definition each, so ``ironlb-ccm`` and ``ironlb-speaker``
spell, default, document and refuse them alike.

* types: :func:`parse_bool` (``true|false``, ``1|0``, ``t|f`` as Go's flag package spells them, and ``yes|no``:
  manifests written for MetalLB and upstream say ``--leader-elect=true``), :func:`seconds` (Go durations,
  ``metav1.Duration`` syntax, as seconds);
* the configuration namespace's default from the environment (:func:`default_namespace`: MetalLB's
  ``METALLB_NAMESPACE``, then the Downward API's ``POD_NAMESPACE``);
* ``--help`` laid out as a manual page (:func:`manual_page_parser`), and the flags every daemon has: how to reach
  the API server, which Services and which configuration it serves, where it serves /healthz /readyz /metrics, and
  how it logs (``add_*_flags``), with :func:`check_port` and :func:`check_log_level` for their values.

Every refusal is an :class:`OptionsError` whose message is a sentence naming the flag and what would be valid.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from ironlb.api import names
from ironlb.config.durations import SECOND, DurationError, parse_duration
from ironlb.obs.logging import LEVELS

#: a parser or one of its argument groups (``add_argument_group`` returns argparse's private class)
Group = argparse._ActionsContainer


class OptionsError(ValueError):
    """A flag value that cannot be used; the message is a complete sentence."""


def parse_bool(text: str) -> bool:
    """An ``argparse`` type for boolean flags given a value (``--membership=false``)."""
    lowered = text.strip().lower()
    if lowered in ("true", "1", "t", "yes"):
        return True
    if lowered in ("false", "0", "f", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean; use true or false")


def seconds(flag: str, text: str, *, hint: str = "a duration such as 2s, or 0") -> float:
    """A Go duration (``500ms``, ``1m30s``) as seconds; ``hint`` says what to give instead of a negative one."""
    try:
        value = parse_duration(text) / SECOND
    except DurationError as exc:
        raise OptionsError(f"{flag} {text!r} {exc}") from None
    if value < 0:
        raise OptionsError(f"{flag} {text!r} is negative; give {hint}")
    return value


def default_namespace(env: Mapping[str, str]) -> str:
    """The configuration namespace when ``--config-namespace`` is not given."""
    return env.get("METALLB_NAMESPACE") or env.get("POD_NAMESPACE") or names.DEFAULT_NAMESPACE


def manual_page_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """A parser whose ``--help`` reads as a manual page: ``description`` (NAME, SYNOPSIS, DESCRIPTION) and
    ``epilog`` (ENVIRONMENT, EXIT STATUS, EXAMPLES ...) printed as written, the flags in their groups between."""
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage=argparse.SUPPRESS,
    )


def add_api_server_flags(group: Group) -> None:
    """``--kubeconfig`` and ``--master``: how to reach the API server."""
    group.add_argument("--kubeconfig", default=None, help="kubeconfig file; default: in-cluster, then ~/.kube/config")
    group.add_argument("--master", default=None, help="API server address; overrides the kubeconfig's server")


def add_load_balancer_class_flag(group: Group, *, verb: str) -> None:
    """``--load-balancer-class``; ``verb`` is what the daemon does with a Service ("serve", "announce")."""
    group.add_argument(
        "--load-balancer-class",
        default=None,
        help=f"{verb} only Services of this loadBalancerClass; unset: only Services without a class",
    )


def add_config_namespace_flag(group: Group, env: Mapping[str, str], *, holds: str) -> None:
    """``--config-namespace``, defaulting from ``env``; ``holds`` says what the daemon reads there."""
    namespace = default_namespace(env)
    group.add_argument("--config-namespace", default=namespace, help=f"where {holds} live ({namespace})")


def add_legacy_configmap_flag(group: Group) -> None:
    group.add_argument(
        "--legacy-configmap",
        default=names.DEFAULT_LEGACY_CONFIGMAP,
        help=f"name of MetalLB's legacy ConfigMap in the config namespace ({names.DEFAULT_LEGACY_CONFIGMAP})",
    )


def add_serving_flags(group: Group, *, port_flag: str, port: int) -> None:
    """``--bind-address`` and the port (``port_flag``, default ``port``) of /healthz /readyz /metrics."""
    group.add_argument("--bind-address", default="0.0.0.0", help="address of /healthz /readyz /metrics (0.0.0.0)")
    group.add_argument(
        port_flag, type=int, default=port, help=f"port of /healthz /readyz /metrics; 0 disables ({port})"
    )


def add_logging_flags(group: Group) -> None:
    group.add_argument("--log-level", default="info", help="all|debug|info|warn|error|none (info)")
    group.add_argument("--log-format", default="json", choices=("json", "text"), help="json lines or text (json)")


def check_port(flag: str, value: int, *, zero_disables: bool = False) -> None:
    """A port number is 0-65535; ``zero_disables`` says that 0 switches the listener off (worth saying)."""
    if not 0 <= value <= 65535:
        fix = "use 1-65535, or 0 to disable" if zero_disables else "use 1-65535"
        raise OptionsError(f"{flag} {value} is not a port; {fix}")


def check_log_level(text: str) -> str:
    """The ``--log-level`` value, lower-cased, or an :class:`OptionsError`."""
    if text.lower() not in LEVELS:
        raise OptionsError(f"--log-level {text!r} is not a level; use all, debug, info, warn, error or none")
    return text.lower()


__all__ = [
    "OptionsError",
    "add_api_server_flags",
    "add_config_namespace_flag",
    "add_legacy_configmap_flag",
    "add_load_balancer_class_flag",
    "add_logging_flags",
    "add_serving_flags",
    "check_log_level",
    "check_port",
    "default_namespace",
    "manual_page_parser",
    "parse_bool",
    "seconds",
]
