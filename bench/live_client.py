#!/usr/bin/env python3
"""Live-update load for bench/live.sh: holds N Server-Sent-Event streams through nginx (one per instance,
each with its owner's token) and measures wake latency: a transition is made on a waited instance and
the time until its stream carries the event is taken from when the POST was sent (an upper bound of
commit -> receive) and from when its 200 arrived (a lower bound). Plain asyncio sockets, no packages.

    live_client.py HOST PORT DATA TARGETS N ROUNDS [--hold READY_FILE]

DATA holds tokens.txt (one token per user, line = user); TARGETS lists Created instances ("id user"),
each used by one run only (a wake moves it to Running).
Prints key=value lines; with --hold, keeps the streams open after measuring (touching READY_FILE) until
it is killed.
"""
import asyncio
import json
import os
import signal
import statistics
import sys
import time


async def open_stream(host, port, instance, token, received, ready):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write((f"GET /api/v1/workflows/{instance}/events/stream HTTP/1.0\r\nHost: {host}\r\n"
                  f"Authorization: Bearer {token}\r\n\r\n").encode())
    await writer.drain()
    buffer = b""
    while b"event: InstanceCreated" not in buffer:
        chunk = await reader.read(4096)
        if not chunk:
            raise RuntimeError(f"stream {instance} closed before its first event: {buffer[:300]!r}")
        buffer += chunk
    ready.set_result(True)
    while True:
        chunk = await reader.read(4096)
        if not chunk:
            return writer
        if b"event: StatusChanged" in chunk and instance in received and not received[instance].done():
            received[instance].set_result(time.monotonic())


async def transition(host, port, instance, token):
    reader, writer = await asyncio.open_connection(host, port)
    body = b'{"to":"Running"}'
    writer.write((f"POST /api/v1/workflows/{instance}/transitions HTTP/1.0\r\nHost: {host}\r\n"
                  f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    status = int(answer.split(b" ", 2)[1])
    if status != 200:
        raise RuntimeError(f"transition of {instance}: {answer[:300]!r}")


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def main():
    host, port, data, target_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    n, rounds = int(sys.argv[5]), int(sys.argv[6])
    hold = sys.argv[8] if len(sys.argv) > 8 and sys.argv[7] == "--hold" else None
    tokens = open(os.path.join(data, "tokens.txt")).read().split()
    targets = [line.split() for line in open(target_file)][:n]
    if len(targets) < n:
        raise SystemExit(f"only {len(targets)} Created instances for {n} streams")
    loop = asyncio.get_running_loop()
    received = {}
    readies = [loop.create_future() for _ in targets]
    started = time.monotonic()
    streams = []
    for (instance, user), ready in zip(targets, readies):
        streams.append(asyncio.create_task(open_stream(host, port, instance, tokens[int(user) - 1], received, ready)))
        if len(streams) % 200 == 0:
            await asyncio.sleep(0.05)  # below nginx's accept backlog
    await asyncio.wait_for(asyncio.gather(*readies), 120)
    print(f"streams={n}")
    print(f"open_seconds={time.monotonic() - started:.2f}")
    await asyncio.sleep(1)
    from_send, from_answer = [], []
    for k in range(rounds):
        instance, user = targets[(k * 7919) % n]
        if instance in received:
            continue
        received[instance] = loop.create_future()
        sent = time.monotonic()
        await transition(host, port, instance, tokens[int(user) - 1])
        answered = time.monotonic()
        got = await asyncio.wait_for(received[instance], 10)
        from_send.append((got - sent) * 1000)
        from_answer.append(max(0.0, got - answered) * 1000)
        await asyncio.sleep(0.02)
    for name, values in (("wake_ms_from_send", from_send), ("wake_ms_from_answer", from_answer)):
        print(f"{name}_p50={statistics.median(values):.2f}")
        print(f"{name}_p99={percentile(values, 99):.2f}")
        print(f"{name}_max={max(values):.2f}")
    print(f"wakes={len(from_send)}")
    sys.stdout.flush()
    if hold:
        open(hold, "w").write("ready\n")
        stop = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(True))
        await stop
    for task in streams:
        task.cancel()


asyncio.run(main())
