#!/usr/bin/env python3
"""A webhook receiver for tests and benchmarks: logs every request it gets, and fails on purpose.

Usage: webhook-receiver.py --port-file FILE --log FILE [--port N] [--fail-rate R] [--hang-rate R]
                           [--drop-rate R] [--hang-seconds S] [--hang-first N] [--seed N]

Each request is appended to the log as one JSON line:
  {"path", "id", "timestamp", "signature", "body", "status", "received"} — status is what was answered
  (0: the connection was dropped without an answer; -1: the receiver hung past the sender's timeout).
Paths: /redirect answers 302 to /target; anything else is a webhook endpoint. --fail-rate answers 500,
--hang-rate sleeps --hang-seconds before answering, --drop-rate closes the connection without a word;
--hang-first N hangs on the first N requests whatever the rates.
"""
import argparse
import json
import os
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--port-file", required=True)
parser.add_argument("--log", required=True)
parser.add_argument("--fail-rate", type=float, default=0.0)
parser.add_argument("--hang-rate", type=float, default=0.0)
parser.add_argument("--drop-rate", type=float, default=0.0)
parser.add_argument("--hang-seconds", type=float, default=12.0)
parser.add_argument("--seed", type=int, default=None)
parser.add_argument("--hang-first", type=int, default=0)
args = parser.parse_args()

rng = random.Random(args.seed)
lock = threading.Lock()
hang_first = args.hang_first
log = open(args.log, "a", buffering=1)


def record(handler, body, status):
    entry = {
        "path": handler.path,
        "id": handler.headers.get("webhook-id"),
        "timestamp": handler.headers.get("webhook-timestamp"),
        "signature": handler.headers.get("webhook-signature"),
        "body": body.decode("utf-8", "replace"),
        "status": status,
        "received": handler.received,
        "answered": time.time() if status > 0 else None,
    }
    with lock:
        log.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: without this, a 40 ms delayed-ACK stall each

    def log_message(self, *_):
        pass

    def do_POST(self):
        self.received = time.time()
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path == "/redirect":
            record(self, body, 302)
            self.send_response(302)
            self.send_header("Location", "/target")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        global hang_first
        with lock:
            roll = rng.random()
            forced_hang = hang_first > 0
            hang_first = max(hang_first - 1, 0)
        if roll < args.drop_rate and not forced_hang:
            record(self, body, 0)
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        hung = forced_hang or roll < args.drop_rate + args.hang_rate
        if hung:
            record(self, body, -1)
            time.sleep(args.hang_seconds)  # the sender has given up by now; the late answer counts for nothing
            status = 200
        else:
            status = 500 if roll < args.drop_rate + args.hang_rate + args.fail_rate else 200
        answer = b'{"error":"induced"}' if status == 500 else b"ok"
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            self.wfile.flush()
        except OSError:
            pass
        if not hung:
            record(self, body, status)  # after the answer went out: "received" and "answered" bound the attempt


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


server = Server(("127.0.0.1", args.port), Handler)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(args.port_file + ".tmp", args.port_file)
server.serve_forever()
