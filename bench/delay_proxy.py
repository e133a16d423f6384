#!/usr/bin/env python3
"""A loopback TCP proxy that delays every byte by a fixed time in each direction.

    python3 bench/delay_proxy.py --target 127.0.0.1:5432 --delay-ms 1

Prints the port it listens on (127.0.0.1, chosen at start) as its first line. Stands in for the
network between Sluice and a database on another machine where `tc qdisc ... netem` is not
available (containers without the netem module). Each direction of each connection keeps its
order: a chunk read at time t is written at t + delay, after every chunk read before it. Built on
asyncio protocols and timer callbacks (no coroutine per chunk), so that the proxy's own CPU and
scheduling delay stay small beside what it measures.
"""
import argparse
import asyncio
import collections
import socket
import sys


class Direction:
    """Chunks read from one side, written to the other once due."""

    def __init__(self, loop, delay):
        self.loop = loop
        self.delay = delay
        self.queue = collections.deque()
        self.timer = None
        self.transport = None  # where the chunks go, once connected
        self.closing = False

    def push(self, data):
        self.queue.append((self.loop.time() + self.delay, data))
        if self.timer is None:
            self.timer = self.loop.call_at(self.queue[0][0], self.flush)

    def close_when_sent(self):
        self.closing = True
        if self.timer is None:
            self.flush()

    def flush(self):
        self.timer = None
        if self.transport is None:
            self.timer = self.loop.call_later(0.0005, self.flush)
            return
        now = self.loop.time()
        while self.queue and self.queue[0][0] <= now:
            self.transport.write(self.queue.popleft()[1])
        if self.queue:
            self.timer = self.loop.call_at(self.queue[0][0], self.flush)
        elif self.closing and not self.transport.is_closing():
            self.transport.close()


class Side(asyncio.Protocol):
    def __init__(self, outgoing, incoming):
        self.outgoing = outgoing  # what this side sends, delayed towards the other
        self.incoming = incoming  # what the other side sends, delayed towards this one

    def connection_made(self, transport):
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.incoming.transport = transport

    def data_received(self, data):
        self.outgoing.push(data)

    def connection_lost(self, exc):
        self.outgoing.close_when_sent()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True, help="host:port to forward to")
    parser.add_argument("--delay-ms", type=float, default=1.0, help="one-way delay added in each direction")
    args = parser.parse_args()
    host, port = args.target.rsplit(":", 1)
    delay = args.delay_ms / 1000
    loop = asyncio.get_running_loop()

    def accepted():
        upstream, downstream = Direction(loop, delay), Direction(loop, delay)
        client = Side(upstream, downstream)

        async def connect():
            try:
                await loop.create_connection(lambda: Side(downstream, upstream), host, int(port))
            except OSError:
                if downstream.transport:
                    downstream.transport.close()

        loop.create_task(connect())
        return client

    server = await loop.create_server(accepted, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
