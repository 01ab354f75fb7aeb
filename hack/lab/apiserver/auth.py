"""Authentication: bearer tokens for an admin and for ServiceAccounts, anonymous requests otherwise.

kube-apiserver's token authenticators map a token to a user: name, uid, groups. We keep a table of the tokens
we minted. The admin token belongs to ``kubernetes-admin`` in ``system:masters`` (what kubeadm's admin
credentials carry), and a ServiceAccount token to ``system:serviceaccount:<namespace>:<name>`` in
``system:serviceaccounts`` and ``system:serviceaccounts:<namespace>`` - valid only while that ServiceAccount
exists with the uid it had when the token was minted (bound tokens are invalidated when their ServiceAccount
is deleted). Every authenticated user is also in ``system:authenticated``. A request without a token is
``system:anonymous`` (group ``system:unauthenticated``), as with ``--anonymous-auth=true``; a token we do not
know is 401 Unauthorized.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from hack.lab.apiserver import errors, meta
from hack.lab.apiserver.store import Store

JSON = dict[str, Any]
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)

    @property
    def is_master(self) -> bool:
        return MASTERS in self.groups

    def info(self) -> JSON:
        """``authentication.k8s.io/v1`` UserInfo."""
        out: JSON = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = self.extra
        return out


ANONYMOUS = User("system:anonymous", (UNAUTHENTICATED,))
ADMIN = User("kubernetes-admin", (MASTERS, AUTHENTICATED))


@dataclass(frozen=True)
class _Grant:
    user: User | None = None
    service_account: tuple[str, str] | None = None
    sa_uid: str | None = None
    expires: dt.datetime | None = None


def _token(subject: str) -> str:
    # Shaped like a JWT so that tools which split on "." do not choke; the signature part is random.
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": "ironlb-lab"}).encode()).rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps({"sub": subject, "iss": "ironlb-lab"}).encode()).rstrip(b"=")
    return f"{header.decode()}.{payload.decode()}.{secrets.token_urlsafe(24)}"


class Authenticator:
    """Minted tokens and who they stand for."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._grants: dict[str, _Grant] = {}
        self.admin_token = self.mint_user(ADMIN)

    def mint_user(self, user: User) -> str:
        token = _token(user.name)
        groups = user.groups if AUTHENTICATED in user.groups else (*user.groups, AUTHENTICATED)
        self._grants[token] = _Grant(user=User(user.name, groups, user.uid, user.extra))
        return token

    def mint_service_account(self, namespace: str, name: str, *, expiration_seconds: int | None = None) -> str:
        """A token for a ServiceAccount; bound to its current uid when it already exists."""
        sa = self.store.get("/serviceaccounts", namespace, name)
        uid = sa["metadata"].get("uid") if sa else None
        expires = meta.now() + dt.timedelta(seconds=expiration_seconds) if expiration_seconds else None
        token = _token(f"system:serviceaccount:{namespace}:{name}")
        self._grants[token] = _Grant(service_account=(namespace, name), sa_uid=uid, expires=expires)
        return token

    def revoke(self, token: str) -> None:
        self._grants.pop(token, None)

    def authenticate(self, authorization: str | None) -> User:
        """The user behind an ``Authorization`` header.

        Raises:
            ApiError: 401 for a token we never minted, or whose ServiceAccount is gone.
        """
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.unauthorized()
        grant = self._grants.get(token.strip())
        if grant is None:
            raise errors.unauthorized()
        if grant.expires is not None and meta.now() > grant.expires:
            raise errors.unauthorized()
        if grant.user is not None:
            return grant.user
        assert grant.service_account is not None
        namespace, name = grant.service_account
        sa = self.store.get("/serviceaccounts", namespace, name)
        if sa is None:
            raise errors.unauthorized()
        uid = sa["metadata"].get("uid", "")
        if grant.sa_uid is not None and grant.sa_uid != uid:
            raise errors.unauthorized()
        return service_account_user(namespace, name, uid)


def service_account_user(namespace: str, name: str, uid: str = "") -> User:
    return User(
        f"system:serviceaccount:{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED),
        uid,
    )


__all__ = [
    "ADMIN",
    "ANONYMOUS",
    "AUTHENTICATED",
    "Authenticator",
    "MASTERS",
    "UNAUTHENTICATED",
    "User",
    "service_account_user",
]
