#!/usr/bin/env python3
"""Runs workflowd the way workflowd.socket + workflowd.service do, without systemd as PID 1.

This script plays systemd's part: it owns the listening unix socket (Accept=no) and passes it to
each `workflowd serve` as fd 0 (StandardInput=socket). The process runs under the seccomp rules
that systemd 252 installs for MemoryDenyWriteExecute=yes, RestrictAddressFamilies=AF_UNIX AF_INET
AF_INET6 and SystemCallArchitectures=native, with NoNewPrivileges, and as user nobody when run
as root. Then it checks:

  1. the filter is real: a W+X mapping fails under it (negative control);
  2. workflowd starts on fd 0 and answers /api/v1/health, an authenticated listing and a create;
  3. SIGTERM: exit status 0;
  4. the socket still accepts while no workflowd runs (a restart's gap), and the next process
     answers the request that waited in the backlog;
  5. the next process serves as usual and exits 0 on SIGTERM.

Not emulated: ProtectSystem=, ProtectHome=, PrivateTmp=, PrivateDevices=, the Protect* kernel
settings, RestrictNamespaces=, LockPersonality= and CapabilityBoundingSet=.

Needs a migrated database: DATABASE_URL, WORKFLOWD_JWT_SECRET and WORKFLOWD_MIGRATIONS_DIR in
the environment (e.g. `source .run/env` after `make run`, plus WORKFLOWD_MIGRATIONS_DIR=Migrations).
The create writes one workflow instance (workflowId create-prd) owned by a random user.

Usage: deploy/activation-check.py [BINARY]   (default: .build/debug/workflowd)
Exit status: 0 all checks passed, 1 a check failed, 2 cannot run.
"""
import ctypes
import json
import os
import platform
import pwd
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid

# ---------------------------------------------------------------------------- seccomp (as systemd)

ARCH = {  # audit arch, mmap, mprotect, pkey_mprotect, shmat, socket
    "x86_64": (0xC000003E, 9, 10, 329, 30, 41),
    "aarch64": (0xC00000B7, 222, 226, 288, 196, 198),
}
PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
EPERM, EAFNOSUPPORT = 1, 97
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
LD_ABS, JEQ, AND, RET = 0x20, 0x15, 0x54, 0x06


def seccomp_program():
    """BPF for: MemoryDenyWriteExecute=yes (mmap W+X, mprotect/pkey_mprotect +X, shmat SHM_EXEC
    → EPERM, as systemd 252's seccomp_memory_deny_write_execute), RestrictAddressFamilies=AF_UNIX
    AF_INET AF_INET6 (other socket() families → EAFNOSUPPORT) and SystemCallArchitectures=native."""
    arch, mmap, mprotect, pkey_mprotect, shmat, sock = ARCH[platform.machine()]
    nr, arch_off, arg0, arg2 = 0, 4, 16, 32  # offsets in struct seccomp_data (little endian)
    code = [
        (LD_ABS, arch_off), (JEQ, arch, None, "deny"),
        (LD_ABS, nr),
        (JEQ, mmap, "mmap", None), (JEQ, mprotect, "prot", None), (JEQ, pkey_mprotect, "prot", None),
        (JEQ, shmat, "shmat", None), (JEQ, sock, "sock", None),
        (RET, RET_ALLOW),
        "mmap", (LD_ABS, arg2), (AND, PROT_WRITE | PROT_EXEC), (JEQ, PROT_WRITE | PROT_EXEC, "deny", "allow"),
        "prot", (LD_ABS, arg2), (AND, PROT_EXEC), (JEQ, PROT_EXEC, "deny", "allow"),
        "shmat", (LD_ABS, arg2), (AND, SHM_EXEC), (JEQ, SHM_EXEC, "deny", "allow"),
        "sock", (LD_ABS, arg0), (JEQ, AF_UNIX, "allow", None), (JEQ, AF_INET, "allow", None),
        (JEQ, AF_INET6, "allow", None), (RET, RET_ERRNO | EAFNOSUPPORT),
        "allow", (RET, RET_ALLOW),
        "deny", (RET, RET_ERRNO | EPERM),
    ]
    labels, pc = {}, 0
    for item in code:
        if isinstance(item, str):
            labels[item] = pc
        else:
            pc += 1
    out, pc = [], 0
    for item in code:
        if isinstance(item, str):
            continue
        if item[0] == JEQ:
            _, k, jt, jf = item
            rel = lambda label: 0 if label is None else labels[label] - (pc + 1)
            out.append(struct.pack("=HBBI", JEQ, rel(jt), rel(jf), k))
        else:
            out.append(struct.pack("=HBBI", item[0], 0, 0, item[1]))
        pc += 1
    return b"".join(out), pc


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def sandbox(drop_to=None):
    """preexec_fn: optionally become another user, then NoNewPrivileges and the seccomp filter."""
    program, count = seccomp_program()
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(program, len(program))

    def apply():
        if drop_to is not None:
            os.setgroups([])
            os.setgid(drop_to.pw_gid)
            os.setuid(drop_to.pw_uid)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
        fprog = SockFprog(count, ctypes.addressof(buffer))
        if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
            raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")

    return apply


# ---------------------------------------------------------------------------- a FastCGI client

def fcgi_record(kind, content, request_id=1):
    padding = (8 - len(content) % 8) % 8
    return struct.pack("!BBHHBx", 1, kind, request_id, len(content), padding) + content + b"\0" * padding


def fcgi_pairs(params):
    def length(n):
        return struct.pack("!B", n) if n < 128 else struct.pack("!I", n | 0x80000000)
    return b"".join(length(len(k)) + length(len(v)) + k + v
                    for k, v in ((k.encode(), v.encode()) for k, v in params.items()))


def fcgi_request(method, uri, headers=None, body=b""):
    params = {"REQUEST_METHOD": method, "REQUEST_URI": uri, "SCRIPT_NAME": uri.split("?")[0],
              "QUERY_STRING": uri.partition("?")[2], "SERVER_PROTOCOL": "HTTP/1.1",
              "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1"}
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        params[key if key in ("CONTENT_TYPE",) else "HTTP_" + key] = value
    data = fcgi_record(1, struct.pack("!HB5x", 1, 0))  # BEGIN_REQUEST, responder, no keep-alive
    data += fcgi_record(4, fcgi_pairs(params)) + fcgi_record(4, b"")
    if body:
        data += fcgi_record(5, body)
    return data + fcgi_record(5, b"")


def fcgi_read_response(conn, timeout):
    conn.settimeout(timeout)
    stdout, buffer = b"", b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before END_REQUEST")
        buffer += chunk
        while len(buffer) >= 8:
            _, kind, _, length, padding = struct.unpack("!BBHHBx", buffer[:8])
            if len(buffer) < 8 + length + padding:
                break
            content, buffer = buffer[8:8 + length], buffer[8 + length + padding:]
            if kind == 6:
                stdout += content
            elif kind == 3:
                head, _, body = stdout.partition(b"\r\n\r\n")
                status = next((int(line.split()[1]) for line in head.decode().split("\r\n")
                               if line.lower().startswith("status:")), 200)
                return status, body


def send(path, method, uri, headers=None, body=b""):
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(5)
    conn.connect(path)
    conn.sendall(fcgi_request(method, uri, headers, body))
    return conn


def call(path, method, uri, headers=None, body=b"", timeout=15):
    with send(path, method, uri, headers, body) as conn:
        return fcgi_read_response(conn, timeout)


# ---------------------------------------------------------------------------- the checks

failures = 0


def report(ok, what, detail=""):
    global failures
    failures += 0 if ok else 1
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail and not ok else ""), flush=True)
    return ok


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, ".build/debug/workflowd"))
    missing = [v for v in ("DATABASE_URL", "WORKFLOWD_JWT_SECRET", "WORKFLOWD_MIGRATIONS_DIR") if not os.environ.get(v)]
    if missing or not os.access(binary, os.X_OK) or platform.machine() not in ARCH:
        print(f"activation-check: cannot run: binary {binary} executable: {os.access(binary, os.X_OK)}; "
              f"unset: {' '.join(missing) or 'none'}; machine {platform.machine()}", file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items() if k not in ("WORKFLOWD_SOCKET", "WORKFLOWD_LISTEN")}
    env["WORKFLOWD_MIGRATIONS_DIR"] = os.path.abspath(env["WORKFLOWD_MIGRATIONS_DIR"])
    env.setdefault("WORKFLOWD_WORKERS", "4")

    user = None
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        probe = subprocess.run(["runuser", "-u", "nobody", "--", binary, "--version"], capture_output=True)
        user = nobody if probe.returncode == 0 else None
    print(f"info running {binary} as {user.pw_name if user else pwd.getpwuid(os.geteuid()).pw_name}", flush=True)

    control = subprocess.run(
        [sys.executable, "-c", "import mmap; mmap.mmap(-1, 4096, prot=mmap.PROT_WRITE | mmap.PROT_EXEC)"],
        preexec_fn=sandbox(), capture_output=True, text=True)
    if not report(control.returncode != 0 and "Operation not permitted" in control.stderr,
                  "negative control: a W+X mapping fails under the filter", control.stderr.strip()[-200:]):
        return 1

    workdir = tempfile.mkdtemp(prefix="workflowd-activation-")
    path = os.path.join(workdir, "workflowd.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o660)
    listener.listen(128)
    log_path = os.path.join(workdir, "workflowd.log")

    def start():
        log = open(log_path, "a")
        process = subprocess.Popen([binary, "serve"], stdin=listener.fileno(), stdout=log, stderr=log,
                                   env=env, cwd="/", preexec_fn=sandbox(user))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            with open(log_path) as f:
                text = f.read()
                if text.count('"message":"serving"') + text.count(" info serving") > start.count:
                    start.count += 1
                    return process
            time.sleep(0.1)
        return process
    start.count = 0

    def stop(process, label):
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            code = "none (killed after 20 s)"
        report(code == 0, f"{label}: SIGTERM → exit status 0", f"exit status {code}")

    sub = str(uuid.uuid4())
    token = subprocess.run([binary, "token", "--sub", sub, "--role", "Participant", "--ttl", "10m"],
                           env=env, capture_output=True, text=True).stdout.strip()
    auth = {"Authorization": f"Bearer {token}"}
    try:
        first = start()
        if not report(first.poll() is None, "first process: started on fd 0 under the sandbox",
                      f"exited with {first.poll()}"):
            return 1
        with open(f"/proc/{first.pid}/status") as f:
            status_lines = dict(line.split(":", 1) for line in f if ":" in line)
        report(status_lines.get("Seccomp", "").strip() == "2" and status_lines.get("NoNewPrivs", "").strip() == "1",
               "first process: seccomp filter and no_new_privs in force (/proc/PID/status)",
               f"Seccomp {status_lines.get('Seccomp', '?').strip()}, NoNewPrivs {status_lines.get('NoNewPrivs', '?').strip()}")
        status, body = call(path, "GET", "/api/v1/health")
        report(status == 200, "first process: GET /api/v1/health → 200", f"{status} {body[:200]!r}")
        status, body = call(path, "GET", "/api/v1/workflow-definitions", auth)
        report(status == 200, "first process: GET /api/v1/workflow-definitions (token, database) → 200",
               f"{status} {body[:200]!r}")
        create = json.dumps({"workflowId": "create-prd", "parameters": {"projectName": "activation-check"}}).encode()
        status, body = call(path, "POST", "/api/v1/workflows",
                            {**auth, "Content-Type": "application/json"}, create)
        report(status == 201, "first process: POST /api/v1/workflows → 201", f"{status} {body[:200]!r}")
        stop(first, "first process")

        try:
            waiting = send(path, "GET", "/api/v1/health")
            report(True, "between processes: the socket accepts (the request waits in the backlog)")
        except OSError as error:
            waiting = None
            report(False, "between processes: the socket accepts (the request waits in the backlog)",
                   f"{error} (did the old process shut the shared listening socket down?)")

        second = start()
        time.sleep(0.5)
        report(second.poll() is None, "second process: started on the same fd 0 and still running",
               f"exited with {second.poll()}")
        if waiting is not None:
            try:
                status, body = fcgi_read_response(waiting, 15)
                report(status == 200, "second process: answers the request that waited → 200", f"{status}")
            except OSError as error:
                report(False, "second process: answers the request that waited → 200", str(error))
            finally:
                waiting.close()
        try:
            status, body = call(path, "GET", "/api/v1/health")
            report(status == 200, "second process: GET /api/v1/health → 200", f"{status}")
        except OSError as error:
            report(False, "second process: GET /api/v1/health → 200", str(error))
        if second.poll() is None:
            stop(second, "second process")
    finally:
        listener.close()
        if failures:
            print(f"workflowd's log ({log_path}):")
            with open(log_path) as f:
                sys.stdout.write("".join("    " + line for line in f.readlines()[-30:]))
        else:
            for name in os.listdir(workdir):
                os.unlink(os.path.join(workdir, name))
            os.rmdir(workdir)
    print(f"{'all checks passed' if not failures else f'{failures} check(s) failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
