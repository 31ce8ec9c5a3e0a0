"""``python3 -m sluice bench``: messages per second through one queue,
1 producer process + 1 consumer process, pipelined; optionally the same
with redis-py (RPUSH/LPOP) for comparison."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import struct
import sys
import time

from . import AsyncClient, Client, __version__

_SEQ = struct.Struct(">Q")


def _body(i: int, size: int, pad: bytes) -> bytes:
    return _SEQ.pack(i) + pad


# -------------------------------------------------------------- sluice

def _sluice_produce(a, queue, n, size, go) -> None:
    pad = b"x" * (size - _SEQ.size)
    c = Client(a.host, a.port, auth=a.auth, window=a.window)
    c.ping()
    go.wait()
    for _ in c.put_many(queue, (_body(i, size, pad) for i in range(n))):
        pass
    c.close()


def _sluice_consume(a, queue, n, go) -> tuple[float, bool]:
    c = Client(a.host, a.port, auth=a.auth, window=a.window)
    c.ping()
    in_order = True
    expect = 0
    go.set()
    t0 = time.perf_counter()
    for m in c.consume(queue, prefetch=a.window):
        if _SEQ.unpack_from(m.body)[0] != expect:
            in_order = False
        expect += 1
        if expect == n:
            break
    dt = time.perf_counter() - t0
    c.close()
    return dt, in_order


def _async_produce(a, queue, n, size, go) -> None:
    async def run():
        pad = b"x" * (size - _SEQ.size)
        prod = AsyncClient(a.host, a.port, auth=a.auth, window=a.window)
        await prod.ping()
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        async for _ in prod.put_many(queue, (_body(i, size, pad)
                                             for i in range(n))):
            pass
        await prod.close()
    asyncio.run(run())


def _async_consume(a, queue, n, go) -> tuple[float, bool]:
    async def run():
        cons = AsyncClient(a.host, a.port, auth=a.auth, window=a.window)
        await cons.ping()
        ok, expect = True, 0
        go.set()
        t0 = time.perf_counter()
        async for m in cons.consume(queue, prefetch=a.window):
            if _SEQ.unpack_from(m.body)[0] != expect:
                ok = False
            expect += 1
            if expect == n:
                break
        dt = time.perf_counter() - t0
        await cons.close()
        return dt, ok
    return asyncio.run(run())


def bench_sluice(a, size: int) -> tuple[float, bool]:
    queue = f"bench-py-{os.getpid()}-{size}"
    with Client(a.host, a.port, auth=a.auth) as admin:
        admin.create(queue, capacity=a.capacity,
                     max_bytes=max(a.capacity * size * 2, 1 << 20))
        try:
            produce, consume = _sluice_produce, _sluice_consume
            if a.use_async:
                produce, consume = _async_produce, _async_consume
            ctx = mp.get_context("fork")
            go = ctx.Event()
            p = ctx.Process(target=produce,
                            args=(a, queue, a.count, size, go))
            p.start()
            try:
                return consume(a, queue, a.count, go)
            finally:
                p.join()
        finally:
            admin.delete(queue)


# -------------------------------------------------------------- redis

def _redis_client(a):
    import redis  # Debian: python3-redis; only for the comparison
    host, _, port = a.redis.rpartition(":")
    return redis.Redis(host=host or "127.0.0.1", port=int(port))


def _redis_produce(a, key, n, size, go) -> None:
    r = _redis_client(a)
    r.ping()
    pad = b"x" * (size - _SEQ.size)
    go.wait()
    i = 0
    while i < n:
        pipe = r.pipeline(transaction=False)
        for j in range(i, min(n, i + a.window)):
            pipe.rpush(key, _body(j, size, pad))
        pipe.execute()
        i += a.window


def _redis_consume(a, key, n, go) -> tuple[float, bool]:
    r = _redis_client(a)
    r.ping()
    ok, expect = True, 0
    go.set()
    t0 = time.perf_counter()
    while expect < n:
        pipe = r.pipeline(transaction=False)
        for _ in range(min(a.window, n - expect)):
            pipe.lpop(key)
        for body in pipe.execute():
            if body is None:
                continue
            if _SEQ.unpack_from(body)[0] != expect:
                ok = False
            expect += 1
    dt = time.perf_counter() - t0
    return dt, ok


def _redis_async_client(a):
    import redis.asyncio  # redis-py's asyncio client, same package
    host, _, port = a.redis.rpartition(":")
    return redis.asyncio.Redis(host=host or "127.0.0.1", port=int(port))


def _redis_async_produce(a, key, n, size, go) -> None:
    async def run():
        r = _redis_async_client(a)
        await r.ping()
        pad = b"x" * (size - _SEQ.size)
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        i = 0
        while i < n:
            pipe = r.pipeline(transaction=False)
            for j in range(i, min(n, i + a.window)):
                pipe.rpush(key, _body(j, size, pad))
            await pipe.execute()
            i += a.window
        await r.close()
    asyncio.run(run())


def _redis_async_consume(a, key, n, go) -> tuple[float, bool]:
    async def run():
        r = _redis_async_client(a)
        await r.ping()
        ok, expect = True, 0
        go.set()
        t0 = time.perf_counter()
        while expect < n:
            pipe = r.pipeline(transaction=False)
            for _ in range(min(a.window, n - expect)):
                pipe.lpop(key)
            for body in await pipe.execute():
                if body is None:
                    continue
                if _SEQ.unpack_from(body)[0] != expect:
                    ok = False
                expect += 1
        dt = time.perf_counter() - t0
        await r.close()
        return dt, ok
    return asyncio.run(run())


def bench_redis(a, size: int) -> tuple[float, bool]:
    key = f"bench-py-{os.getpid()}-{size}"
    _redis_client(a).delete(key)
    produce, consume = _redis_produce, _redis_consume
    if a.use_async:
        produce, consume = _redis_async_produce, _redis_async_consume
    ctx = mp.get_context("fork")
    go = ctx.Event()
    p = ctx.Process(target=produce, args=(a, key, a.count, size, go))
    p.start()
    try:
        return consume(a, key, a.count, go)
    finally:
        p.join()
        _redis_client(a).delete(key)


# -------------------------------------------------------------- main

def _size(s: str) -> int:
    s = s.strip().lower()
    mult = 1
    if s.endswith("k") or s.endswith("kib"):
        mult, s = 1024, s.rstrip("kib")
    v = int(s) * mult
    if v < _SEQ.size:
        raise argparse.ArgumentTypeError(f"size must be at least {_SEQ.size}")
    return v


def _client(a):
    """-H given once: one server, or one group ("h:p,h:p"); repeated:
    several groups, the queue's chosen by the rendezvous hash."""
    from . import ShardedClient
    hosts = a.host or [os.environ.get("SLUICE_HOST", "127.0.0.1")]
    kw = dict(auth=a.auth, allow_duplicates=a.allow_duplicates)
    if a.retry_timeout is not None:
        kw["retry_timeout"] = a.retry_timeout
    if len(hosts) > 1:
        return ShardedClient(hosts, port=a.port, **kw)
    h = hosts[0]
    if "," in h or "=" in h or h.count(":") == 1 or h.startswith("["):
        return Client(servers=h, port=a.port, **kw)
    return Client(h, a.port, **kw)


def _put_get(a) -> int:
    from .errors import Empty, SluiceError
    try:
        with _client(a) as c:
            if a.cmd == "put":
                if c.put(a.queue, sys.stdin.buffer.read(),
                         timeout=a.timeout) is None:
                    print(f"{a.queue}: dropped (drop-newest)",
                          file=sys.stderr)
            else:
                sys.stdout.buffer.write(c.get(a.queue,
                                              timeout=a.timeout).body)
                sys.stdout.buffer.flush()
    except Empty:
        print(f"{a.queue}: no message", file=sys.stderr)
        return 1
    except (SluiceError, ValueError) as e:
        print(f"sluice {a.cmd}: {e}", file=sys.stderr)
        return 75 if getattr(e, "code", 0) and e.code >= 500 else 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python3 -m sluice",
        description="sluice Python client tools.")
    ap.add_argument("-V", "--version", action="version",
                    version=f"sluice (Python client) {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser(
        "bench", help="messages per second, 1 producer + 1 consumer",
        description="Put COUNT messages of each SIZE into a fresh queue "
        "from one process while another takes them, both pipelined "
        "(WINDOW requests in flight), and print messages per second. "
        "Every message is checked: received once, in order.")
    b.add_argument("-H", "--host",
                   default=os.environ.get("SLUICE_HOST", "127.0.0.1"))
    b.add_argument("-p", "--port", type=int,
                   default=int(os.environ.get("SLUICE_PORT", "7470")))
    b.add_argument("-a", "--auth", default=os.environ.get("SLUICE_AUTH"))
    b.add_argument("-n", "--count", type=int, default=200000,
                   help="messages per size (default 200000)")
    b.add_argument("-s", "--size", type=_size, action="append",
                   help="message size in bytes, repeatable "
                   "(default: 64 and 1024)")
    b.add_argument("-w", "--window", type=int, default=256,
                   help="requests in flight per connection (default 256)")
    b.add_argument("--capacity", type=int, default=65536,
                   help="the bench queue's capacity (default 65536)")
    b.add_argument("--async", dest="use_async", action="store_true",
                   help="use AsyncClient (producer and consumer in one "
                   "event loop) instead of Client in two processes")
    b.add_argument("--redis", metavar="HOST:PORT",
                   help="also measure redis-py RPUSH/LPOP against this "
                   "Redis, pipelined WINDOW commands at a time")
    for name, text in (("put", "put all of stdin as one message"),
                       ("get", "take one message; its body, exactly, to "
                        "stdout")):
        c = sub.add_parser(name, help=text, description=text[0].upper() +
                           text[1:] + " (for scripts and other languages' "
                           "tests).")
        c.add_argument("-H", "--host", action="append", metavar="SERVERS",
                       help="HOST, HOST:PORT, or a replication group's "
                       "servers [NAME=]HOST:PORT,HOST:PORT,... (tried in turn, "
                       "NOT_LEADER hints followed); repeat for several "
                       "groups, the queue's chosen by rendezvous hashing "
                       "(default $SLUICE_HOST or 127.0.0.1)")
        c.add_argument("-p", "--port", type=int,
                       default=int(os.environ.get("SLUICE_PORT", "7470")),
                       help="port of a HOST given without one (default "
                       "$SLUICE_PORT or 7470)")
        c.add_argument("-a", "--auth", default=os.environ.get("SLUICE_AUTH"))
        c.add_argument("-t", "--timeout", type=float, default=None,
                       help="seconds to wait (put: for room; get: for a "
                       "message); default: as long as it takes")
        c.add_argument("--retry-timeout", type=float, default=None,
                       metavar="SECONDS",
                       help="how long to keep trying while the group has "
                       "no leader (default 10)")
        if name == "put":
            c.add_argument("--allow-duplicates", action="store_true",
                           help="send the message again when the "
                           "connection breaks before the answer (it may "
                           "then be stored twice)")
        else:
            c.set_defaults(allow_duplicates=False)
        c.add_argument("queue")
    a = ap.parse_args(argv)
    if a.cmd in ("put", "get"):
        return _put_get(a)
    if a.count < 1 or a.window < 1:
        ap.error("count and window must be at least 1")
    sizes = a.size or [64, 1024]
    kind = "AsyncClient" if a.use_async else "Client"
    print(f"1 producer + 1 consumer, window {a.window}, {a.count} messages")
    for size in sizes:
        dt, ok = bench_sluice(a, size)
        print(f"  sluice   ({kind:13s}) {size:6d} B  {a.count / dt:10.0f} msgs/s"
              f"  {'in order' if ok else 'OUT OF ORDER'}", flush=True)
        if a.redis:
            dt, ok = bench_redis(a, size)
            rkind = "redis.asyncio" if a.use_async else "redis.Redis"
            print(f"  redis-py ({rkind:13s}) {size:6d} B  "
                  f"{a.count / dt:10.0f} msgs/s  "
                  f"{'in order' if ok else 'OUT OF ORDER'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
