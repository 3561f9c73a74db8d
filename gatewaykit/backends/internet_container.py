"""The fake internet container's entry point: ``python -m gatewaykit.backends.internet_container``.

The kind backend runs this in a container on the cluster's Docker network (outside the cluster);
CoreDNS answers ``httpbin.org``, ``edition.cnn.com``, ``www.google.com`` with the container's
address, so pods reach it as they would reach the real hosts. Inside, the embedded sandbox's
:class:`~gatewaykit.workloads.internet.FakeInternet` serves every host on 127.0.0.1 ports (the same
app, certificates and CA as the embedded sandbox); this module puts one front in front of them:

* ``:80`` reads the request head and forwards the connection to the host named by ``Host``;
* ``:443`` peeks the TLS ClientHello and forwards the raw stream to the host named by SNI (TLS is
  terminated by that host's server, with its own certificate, as on the real internet).

The fronts bind ``0.0.0.0`` inside the container: its address on the cluster's private Docker
network is the only one pods can reach, and no port is published on the host.

When it serves, it prints one JSON line ``{"serving": [...hosts], "ca": "/data/..."}``; the
backend waits for that line (or the container's exit) before pointing CoreDNS at it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence

from gatewaykit.dataplane._clienthello import NEED_MORE, parse_client_hello
from gatewaykit.workloads.internet import FakeInternet

__all__ = ["host_from_head", "main"]

_MAX_HEAD = 64 * 1024


def host_from_head(head: bytes) -> str | None:
    """The ``Host`` of an HTTP/1.x request head (lower-case, port removed), or None."""
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"host":
            return value.strip().decode("latin-1").rsplit(":", 1)[0].lower() or None
    return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _forward(
    first: bytes, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
    up_writer.write(first)
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


_Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _http_router(ports: Mapping[str, int]) -> _Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < _MAX_HEAD:
            chunk = await reader.read(4096)
            if not chunk:
                break
            head += chunk
        port = ports.get(host_from_head(head) or "")
        if port is None:
            writer.close()  # a name the fake internet does not serve: the connection is refused
            return
        await _forward(head, port, reader, writer)

    return handle


def _tls_router(ports: Mapping[str, int]) -> _Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = b""
        hello = parse_client_hello(data)
        while hello is NEED_MORE and len(data) < _MAX_HEAD:
            chunk = await reader.read(4096)
            if not chunk:
                break
            data += chunk
            hello = parse_client_hello(data)
        port = ports.get(getattr(hello, "sni", None) or "")
        if port is None:
            writer.close()
            return
        await _forward(data, port, reader, writer)

    return handle


async def _serve(net: FakeInternet, bind: str, http_port: int, https_port: int) -> None:
    http = {name: p[80] for name, p in net.ports.items() if 80 in p}
    https = {name: p[443] for name, p in net.ports.items() if 443 in p}
    servers = [
        await asyncio.start_server(_http_router(http), bind, http_port),
        await asyncio.start_server(_tls_router(https), bind, https_port),
    ]
    print(json.dumps({"serving": sorted(net.ports), "ca": str(net.ca_file)}), flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the fake internet on ``--bind``:80 and :443 until stopped."""
    parser = argparse.ArgumentParser(prog="python -m gatewaykit.backends.internet_container")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--state-dir", default="/data", help="where the CA and the host keys (0600) are kept")
    parser.add_argument("--http-port", type=int, default=80)
    parser.add_argument("--https-port", type=int, default=443)
    args = parser.parse_args(argv)
    with FakeInternet(args.state_dir) as net:
        try:
            asyncio.run(_serve(net, args.bind, args.http_port, args.https_port))
        except KeyboardInterrupt:
            return 0
    return 0


if __name__ == "__main__":  # pragma: no cover - the container's entry point
    sys.exit(main())
