"""Test-only network guard: Python processes started by the test suite may connect to loopback only.

tests/conftest.py installs it in the test process and puts this folder on PYTHONPATH, so every
Python subprocess the tests start (the CLI, the server) imports it at start-up as `sitecustomize`.
A connection to any other address raises OSError and is recorded in `ATTEMPTS`.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import sys

ATTEMPTS: list[str] = []
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def is_loopback(family: int, address: object) -> bool:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return True  # Unix sockets, netlink: not the network
    if not isinstance(address, tuple) or not address:
        return False
    host = str(address[0]).split("%", 1)[0].lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # a host name other than localhost: never resolved, never reached
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return True  # a literal address needs no lookup; connect() decides


def _refuse(sock: socket.socket, address: object) -> OSError:
    where = f"{address!r}"
    ATTEMPTS.append(where)
    print(f"qa tests: blocked an outbound connection to {where}", file=sys.stderr)
    return OSError(errno.ENETUNREACH, f"network access is disabled in the qa tests (connect to {where})")


def _refuse_name(name: str) -> None:
    ATTEMPTS.append(f"resolve {name}")
    print(f"qa tests: blocked a name lookup of {name!r}", file=sys.stderr)


def install() -> None:
    if getattr(socket.socket, "_qa_guarded", False):
        return
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: object) -> None:
        if not is_loopback(self.family, address):
            raise _refuse(self, address)
        return real_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        if not is_loopback(self.family, address):
            _refuse(self, address)
            return errno.ENETUNREACH
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _is_ip(name) and not is_loopback(socket.AF_INET, (name, 0)):
            _refuse_name(name)
            raise socket.gaierror(socket.EAI_NONAME, f"name resolution is disabled in the qa tests ({name})")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.socket._qa_guarded = True  # type: ignore[attr-defined]


if os.environ.get("QA_TEST_NETGUARD") == "1":
    install()
