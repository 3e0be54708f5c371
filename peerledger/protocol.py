"""The HTTP protocol uvicorn serves with (httptools), with TCP_NODELAY set on every connection.

With several worker processes uvicorn binds the listening socket itself as
`socket.socket(family)`, whose protocol number is 0, and asyncio only switches Nagle's
algorithm off for sockets created with IPPROTO_TCP. A response goes out as two writes
(head, then body), so on a kept-alive connection the body waited for the client's delayed
ACK: about 40 ms per request, whatever the load. Setting the option here does not depend on
how the socket was made.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
