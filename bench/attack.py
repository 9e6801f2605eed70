#!/usr/bin/env python3
"""Load for bench/attack.sh, on loopback only. Subcommands:
  idle N ADDRS HOST PORT CA SECONDS     hold N idle TLS connections to the north
                                        listener from ADDRS loopback addresses
  streams N TOKENFILE HOST PORT CA SECONDS
                                        hold N live streams (tokens round-robin
                                        from TOKENFILE) and never read them
  probe KIND HOST PORT CA N [CERT KEY]  N requests from 127.0.9.9, one new TLS
                                        connection each: KIND north (/healthz)
                                        or south (a reading stored); prints p50/p99 ms
"""
import asyncio
import json
import resource
import ssl
import statistics
import sys
import time

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def context(ca, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["http/1.1"])
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


async def idle(n, addrs, host, port, ca, seconds):
    ctx = context(ca)
    held, refused = [], 0

    async def one(i):
        nonlocal refused
        src = f"127.0.{10 + i % addrs // 250}.{1 + i % addrs % 250}"
        try:
            r, w = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=ctx, local_addr=(src, 0)), 30)
            held.append(w)
        except Exception:
            refused += 1

    for start in range(0, n, 500):
        await asyncio.gather(*(one(i) for i in range(start, min(n, start + 500))))
    print(f"held {len(held)} idle TLS connections, {refused} refused", flush=True)
    await asyncio.sleep(seconds)


async def streams(n, tokenfile, host, port, ca, seconds):
    tokens = [t.strip() for t in open(tokenfile) if t.strip()]
    ctx = context(ca)
    held, refused = [], 0
    for i in range(n):
        # Each viewer from an address of its own, as viewers are.
        src = f"127.0.20.{1 + i % len(tokens)}"
        r, w = await asyncio.open_connection(host, port, ssl=ctx, local_addr=(src, 0))
        w.write(f"GET /api/v1/live HTTP/1.1\r\nhost: x\r\nx-access-token: {tokens[i % len(tokens)]}\r\n\r\n".encode())
        await w.drain()
        status = await r.readline()
        if b" 200 " in status:
            held.append((r, w))
        else:
            refused += 1
    print(f"holding {len(held)} unread live streams ({refused} refused)", flush=True)
    await asyncio.sleep(seconds)


async def device_token(host, port, ctx):
    r, w = await asyncio.open_connection(host, port, ssl=ctx)
    w.write(b"POST /device/v1/token HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    body = (await r.read()).split(b"\r\n\r\n", 1)[1]
    w.close()
    return json.loads(body)["token"]


async def probe(kind, host, port, ca, n, cert=None, key=None):
    ctx = context(ca, cert, key)
    if kind == "north":
        req = b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    else:
        # One reading per request, with one token (tokens are rationed).
        token = await device_token(host, port, ctx)
        body = b'{"readings":[{"sensor":"probe","value":1}]}'
        req = (b"POST /device/v1/readings HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"
               b"content-type: application/json\r\nx-access-token: " + token.encode() +
               b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    times, errors = [], 0
    for _ in range(n):
        t = time.perf_counter()
        try:
            r, w = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=ctx, local_addr=("127.0.9.9", 0)), 10)
            w.write(req)
            await w.drain()
            line = await asyncio.wait_for(r.readline(), 10)
            w.close()
            if b" 200 " not in line and b" 202 " not in line:
                errors += 1
                continue
            times.append((time.perf_counter() - t) * 1000)
        except Exception:
            errors += 1
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))] if times else float("nan")
    print(f"{kind}: {len(times)} ok, {errors} failed; p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms "
          f"(a new TLS connection each)", flush=True)


cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "idle":
    asyncio.run(idle(int(args[0]), int(args[1]), args[2], int(args[3]), args[4], float(args[5])))
elif cmd == "streams":
    asyncio.run(streams(int(args[0]), args[1], args[2], int(args[3]), args[4], float(args[5])))
elif cmd == "probe":
    asyncio.run(probe(args[0], args[1], int(args[2]), args[3], int(args[4]), *args[5:7]))
