"""What the speaker reads from its namespace besides the configuration: excluded interfaces, membership key.

The parse itself (CRs, legacy ConfigMap, Secrets) is ironlb.config's and tested there; the watcher's loop runs in
tests/speaker/integration (the excludel2 ConfigMap changed at run time).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from speaker.configuration import excluded_interfaces, membership_keys


def configmap(text: str | None) -> dict[str, Any]:
    data = {} if text is None else {"excludel2.yaml": text}
    return {"metadata": {"name": "metallb-excludel2", "namespace": "metallb-system"}, "data": data}


def test_no_configmap_means_the_default_list() -> None:
    assert excluded_interfaces(None) is None


def test_patterns_are_read() -> None:
    text = "announcedInterfacesToExclude:\n- ^docker.*\n- ^eth1$\n"
    assert excluded_interfaces(configmap(text)) == ("^docker.*", "^eth1$")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param(None, "has no key 'excludel2.yaml'", id="missing-key"),
        pytest.param("announcedInterfacesToExclude: [", "is not YAML", id="not-yaml"),
        pytest.param("announcedInterfacesToExclude: eth1", "must be a list", id="not-a-list"),
        pytest.param("somethingElse: []", "must be a list", id="wrong-field"),
        pytest.param("announcedInterfacesToExclude: ['(eth']", "is not a regular expression", id="bad-regex"),
    ],
)
def test_bad_content_is_a_sentence(text: str | None, words: str) -> None:
    with pytest.raises(ValueError, match="metallb-excludel2") as err:
        excluded_interfaces(configmap(text))
    assert words in str(err.value)


def secret(value: bytes) -> dict[str, Any]:
    return {"data": {"secretkey": base64.b64encode(value).decode()}}


def test_the_secret_is_the_key() -> None:
    value = b"x" * 22  # MetalLB's: 16 random bytes as 22 characters of base64
    assert membership_keys(secret(value), "metallb-system") == ((value,), True)


def test_a_short_secret_is_stretched_the_same_way_everywhere() -> None:
    assert membership_keys(secret(b"short"), "ns") == ((hashlib.sha256(b"short").digest(),), True)


@pytest.mark.parametrize(
    "obj", [pytest.param(None, id="no-secret"), pytest.param({"data": {}}, id="no-key"), pytest.param({}, id="empty")]
)
def test_without_a_secret_every_speaker_derives_the_same_public_key(obj: dict[str, Any] | None) -> None:
    keys, from_secret = membership_keys(obj, "metallb-system")
    assert not from_secret and len(keys[0]) == 32
    assert membership_keys(None, "metallb-system") == (keys, False)
    assert membership_keys(None, "other")[0] != keys, "derived per namespace"
