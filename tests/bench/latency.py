"""A TCP relay that adds a fixed delay each way: the benchmark's stand-in for a real network.

On loopback a round trip costs a few tens of microseconds, so one read per entry is nearly
as cheap as one paged search; between a CI runner and an ISP's directory (a VPN, another
site) it costs milliseconds, and that is where a per-resource refresh pays per entry what a
paged search pays per page. This relay sits between a client and slapd and forwards every
chunk it reads ``delay`` seconds after it arrived, in order, in both directions. It keeps
pipelining intact (chunks are queued, not waited for one at a time) and limits no bandwidth,
so it adds latency and nothing else.

It runs as its own process, so its CPU time is counted neither as ispctl's nor as slapd's::

    python -m tests.bench.latency --port 0 --upstream 127.0.0.1:3890 --one-way-ms 5

It prints its port on the first line of stdout once it listens, and stops on SIGTERM.
``Relay`` starts and stops one as a child of the caller, by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from types import TracebackType

_CHUNK = 256 * 1024


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy ``reader`` to ``writer``; each chunk leaves ``delay`` s after it arrived, in order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        # The end of the stream arrives late too: a close must not overtake the data before it.
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if writer.can_write_eof():
            writer.write_eof()

    sender = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(_CHUNK)
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                break
        await sender
    except (ConnectionError, asyncio.IncompleteReadError):
        sender.cancel()


async def _serve(port: int, upstream: tuple[str, int], delay: float) -> None:
    # Strong references to the connection handlers: asyncio (3.11) drops its own when the
    # client's side closes, and a handler still relaying the server's side was then garbage
    # collected while pending ("Task was destroyed but it is pending!" on stderr, 1 bench run in 3).
    handlers: set[asyncio.Task[object]] = set()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        me = asyncio.current_task()
        if me is not None:
            handlers.add(me)
            me.add_done_callback(handlers.discard)
        try:
            server_reader, server_writer = await asyncio.open_connection(*upstream)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(_pump(client_reader, server_writer, delay),
                                 _pump(server_reader, client_writer, delay))
        except asyncio.CancelledError:
            # The relay is stopping with this connection open: asyncio's own callback would
            # report a handler that ends cancelled as an error, which it is not.
            pass
        finally:
            for writer in (client_writer, server_writer):
                writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=128)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"{bound}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


class Relay:
    """One relay process in front of ``upstream``, as a child of this process.

    ``rtt_ms`` is the added round trip (half of it each way). Use as a context manager;
    ``port`` is where clients connect instead of the upstream.
    """

    def __init__(self, upstream: tuple[str, int], rtt_ms: float) -> None:
        self.upstream = upstream
        self.rtt_ms = rtt_ms
        self.port = 0
        self._process: subprocess.Popen[str] | None = None
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")

    def __enter__(self) -> Relay:
        argv = [sys.executable, "-m", "tests.bench.latency", "--port", "0",
                "--upstream", f"{self.upstream[0]}:{self.upstream[1]}", "--one-way-ms", str(self.rtt_ms / 2)]
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self._process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._stderr, text=True, cwd=root)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # written once it listens: no polling needed
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"the latency relay did not start (exit {self._process.returncode})")
        self.port = int(line)
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()

    def errors(self) -> str:
        """What the relay wrote to stderr so far (nothing, unless something went wrong)."""
        self._stderr.seek(0)
        return self._stderr.read()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        self._stderr.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--upstream", required=True, help="host:port to relay to")
    parser.add_argument("--one-way-ms", type=float, required=True, help="delay added in each direction")
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    if args.one_way_ms < 0 or not port.isdigit():
        parser.error("--one-way-ms must be >= 0 and --upstream host:port")
    asyncio.run(_serve(args.port, (host, int(port)), args.one_way_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
