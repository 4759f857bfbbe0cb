"""Where webhooks may go: public addresses only, unless an Admin allowed the host explicitly.

A target is checked when its endpoint is saved, again before each delivery (the name is
resolved anew), and once more on the connected socket itself, so a name that resolves to a
public address for the check and to an internal one for the connection (DNS rebinding) is
refused too.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from cxhub.errors import DomainError

REFUSED_MARKER = "refused webhook target"


class RefusedTarget(DomainError):
    code = "webhook_target_refused"


class RefusedPeer(OSError):
    """Raised inside the HTTP connection when the connected address is not public."""


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def target_host(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedTarget("The webhook URL must be http:// or https:// with a host.", field="url")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RefusedTarget("The webhook URL has an invalid port.", field="url") from None
    return parts.hostname.lower(), port


def host_is_allowed(host: str) -> bool:
    from ..models import WebhookAllowedHost

    return WebhookAllowedHost.objects.filter(host=host.lower()).exists()


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RefusedTarget(f"{REFUSED_MARKER}: cannot resolve {host} ({exc}).", field="url") from None
    return sorted({info[4][0] for info in infos})


def check_target(url: str) -> bool:
    """Raise RefusedTarget unless ``url`` may receive webhooks; True when its host was allowed
    explicitly (deliveries to it skip the address checks)."""
    host, port = target_host(url)
    if host_is_allowed(host):
        return True
    for address in resolve(host, port):
        if not is_public_address(address):
            raise RefusedTarget(
                f"{REFUSED_MARKER}: {host} resolves to {address}, a private, loopback or link-local "
                "address. An Admin can allow the host under Journeys → Webhook allowed hosts.",
                field="url",
            )
    return False


class _PeerCheck:
    def _new_conn(self):
        sock = super()._new_conn()
        peer = sock.getpeername()[0]
        if not is_public_address(peer):
            sock.close()
            raise RefusedPeer(f"{REFUSED_MARKER}: {self.host} connected to {peer}, not a public address")
        return sock


class _CheckedHTTPConnection(_PeerCheck, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_PeerCheck, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _PublicOnlyAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}


def delivery_session(*, allowed_host: bool) -> requests.Session:
    """A session for one delivery: no proxies from the environment, and unless the host was
    allowed explicitly, connections to a non-public address are refused."""
    session = requests.Session()
    session.trust_env = False
    if not allowed_host:
        adapter = _PublicOnlyAdapter(max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session
