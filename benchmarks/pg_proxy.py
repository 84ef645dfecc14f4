"""A TCP proxy in front of PostgreSQL, for the benchmarks.

Two uses:

- count=True: read the frontend protocol the clients send and count round trips, each
  labelled with its SQL: a simple query (`Q`) is one, and so is every extended-protocol
  exchange up to its `Sync` (Parse/Bind/Execute... `S`). repository_profile.py uses it to
  show what each repository call sends.
- delay=seconds: hold every chunk, in both directions, for that long before passing it
  on (order kept), which turns loopback into a link with a chosen latency.
  repository_throughput.py --latency-ms uses it to show what round trips cost when the
  database is not on the same machine.

It runs its own event loop in a daemon thread, so the process that starts it can block.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import struct
import threading
import time

_SSL_REQUEST, _GSSENC_REQUEST, _CANCEL_REQUEST = 80877103, 80877104, 80877102


def label(sql: str, width: int = 90) -> str:
    """One line of SQL for a report: whitespace collapsed, savepoint names merged, truncated."""
    sql = re.sub(r"\s+", " ", sql).strip()
    sql = re.sub(r"SAVEPOINT \S+", "SAVEPOINT <name>", sql)
    return sql if len(sql) <= width else sql[: width - 3] + "..."


def through(url: str, port: int) -> str:
    """`url` with its host and port replaced by the proxy's."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


class _ClientStream:
    """Parses what one client sends and records one entry per round trip."""

    def __init__(self, proxy: "Proxy") -> None:
        self.proxy = proxy
        self.buffer = bytearray()
        self.started = False
        self.statements: dict[bytes, str] = {}
        self.binds: list[str] = []
        self.parse: str | None = None

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if not self.started:  # untyped start-up packets: SSLRequest, StartupMessage, ...
                if len(self.buffer) < 8:
                    return
                length, code = struct.unpack("!ii", self.buffer[:8])
                if len(self.buffer) < length:
                    return
                del self.buffer[:length]
                if code not in (_SSL_REQUEST, _GSSENC_REQUEST, _CANCEL_REQUEST):
                    self.started = True
                    self.proxy.record("connect (startup)")
                continue
            if len(self.buffer) < 5:
                return
            kind = chr(self.buffer[0])
            (length,) = struct.unpack("!i", self.buffer[1:5])
            if len(self.buffer) < 1 + length:
                return
            body = bytes(self.buffer[5 : 1 + length])
            del self.buffer[: 1 + length]
            self.message(kind, body)

    def message(self, kind: str, body: bytes) -> None:
        proxy = self.proxy
        proxy.count(kind)
        if kind == "Q":
            proxy.record("simple query: " + label(body.split(b"\0", 1)[0].decode(errors="replace")))
        elif kind == "P":
            name, rest = body.split(b"\0", 1)
            sql = label(rest.split(b"\0", 1)[0].decode(errors="replace"))
            self.statements[name] = sql
            self.parse = sql
        elif kind == "B":
            _portal, rest = body.split(b"\0", 1)
            name = rest.split(b"\0", 1)[0]
            self.binds.append(self.statements.get(name, "?"))
        elif kind == "S":
            if self.binds:
                many = f" (x{len(self.binds)} rows)" if len(self.binds) > 1 else ""
                prefix = "prepare + execute: " if self.parse else "execute: "
                proxy.record(prefix + self.binds[0] + many)
            elif self.parse is not None:
                proxy.record("prepare: " + self.parse)
            else:
                proxy.record("sync")
            self.binds = []
            self.parse = None


class Proxy:
    """Forwards 127.0.0.1:<port> to (host, port); counts round trips and/or adds latency."""

    def __init__(self, host: str, port: int, *, count: bool = False, delay: float = 0.0) -> None:
        self.target = (host, port)
        self.counting = count
        self.delay = delay
        self.lock = threading.Lock()
        self.messages: collections.Counter[str] = collections.Counter()
        self.trips: collections.Counter[str] = collections.Counter()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    # -- counters (any thread) --------------------------------------------------

    def count(self, kind: str) -> None:
        with self.lock:
            self.messages[kind] += 1

    def record(self, what: str) -> None:
        with self.lock:
            self.trips[what] += 1

    def snapshot(self) -> tuple[collections.Counter, collections.Counter]:
        with self.lock:
            return collections.Counter(self.messages), collections.Counter(self.trips)

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.trips.clear()

    # -- life cycle -------------------------------------------------------------

    def start(self) -> int:
        self.thread.start()
        if not self.ready.wait(10) or self.port is None:
            raise RuntimeError("the proxy did not start")
        return self.port

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _handle(self, client_reader, client_writer) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        stream = _ClientStream(self) if self.counting else None
        with contextlib.suppress(Exception):
            await asyncio.gather(
                self._pipe(client_reader, server_writer, stream),
                self._pipe(server_reader, client_writer, None),
            )

    async def _pipe(self, reader, writer, stream: _ClientStream | None) -> None:
        if not self.delay:
            while data := await reader.read(65536):
                if stream is not None:
                    stream.feed(data)
                writer.write(data)
                await writer.drain()
            writer.close()
            return

        # every chunk leaves `delay` seconds after it arrived, in order
        queue: asyncio.Queue = asyncio.Queue()

        async def receive() -> None:
            while data := await reader.read(65536):
                if stream is not None:
                    stream.feed(data)
                queue.put_nowait((time.monotonic() + self.delay, data))
            queue.put_nowait((0.0, b""))

        async def send() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    writer.close()
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        await asyncio.gather(receive(), send())
