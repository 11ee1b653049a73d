"""The guard itself: refuse, and write down, any connection to an address that is not loopback.

``install(log)`` patches ``socket.socket.connect`` and ``connect_ex`` (which asyncio, httpx,
aiohttp and ssl all go through) in this process. A refused attempt raises
``ConnectionRefusedError``, as an unreachable host would, and appends a line to ``log``, so the
test that made it fails even when the code under test swallows the error. The same module is
loaded into child processes by ``sitecustomize.py`` next to it.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from typing import Any

LOG_VARIABLE = "LOOPBACK_GUARD_LOG"
_INET = (socket.AF_INET, socket.AF_INET6)
# The unpatched methods, kept on the class so that a second copy of this module (the plugin's
# and sitecustomize's in one process) never wraps the guard in another guard.
_ORIGINAL = "_kcrush_unguarded"


def is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # a name to look up: only "localhost" is loopback by name
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def install(log: str) -> None:
    original = getattr(socket.socket, _ORIGINAL, None)
    if original is None:
        original = (socket.socket.connect, socket.socket.connect_ex)
        setattr(socket.socket, _ORIGINAL, original)
    real_connect, real_connect_ex = original

    def refused(sock: socket.socket, address: Any) -> str | None:
        if sock.family not in _INET or not isinstance(address, tuple) or is_loopback(address[0]):
            return None
        message = f"connection to {address!r} (not loopback) refused by the test guard"
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"pid {os.getpid()}: {message}\n")
        return message

    def connect(self: socket.socket, address: Any) -> None:
        message = refused(self, address)
        if message:
            raise ConnectionRefusedError(errno.ECONNREFUSED, message)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if refused(self, address):
            return errno.ECONNREFUSED
        return int(real_connect_ex(self, address))

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]


def uninstall() -> None:
    original = getattr(socket.socket, _ORIGINAL, None)
    if original is not None:
        socket.socket.connect, socket.socket.connect_ex = original  # type: ignore[method-assign]
        delattr(socket.socket, _ORIGINAL)
