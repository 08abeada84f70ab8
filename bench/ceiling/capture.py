#!/usr/bin/env python3
"""Records the SQL workflowd runs for create, get, list and transition, for the C responder ceiling
(bench/ceiling/fcgi_pg.c), so that it runs exactly workflowd's statements and holds none of its own.

  capture.py DATABASE_URL POSTGRES_LOG BASE_URL DATA_DIR OUT_DIR
  capture.py explain DATABASE_URL POSTGRES_LOG BASE_URL TOKEN METHOD PATH BODY|- DISTINCTIVE [OLD=NEW|fresh]

Turns on PostgreSQL's statement log (log_statement=all, a recognisable log_line_prefix; a reload, no
restart), sends one request of each kind through nginx to workflowd, one at a time, and takes from the
log the statement that carries that request's values. Writes OUT_DIR/OP.sql (the text as workflowd
prepared it) and OUT_DIR/OP.params: one line per $n, "slot NAME" when the value came from the request
(user: the token's subject, id: the instance in the path, new_id: the id workflowd generated,
definition / parameters / to: from the body, limit_plus_one: the listing's limit + 1), "null", or
"lit VALUE" for a constant workflowd chose (event type, status lists, ...). Also OUT_DIR/actions.txt:
per status, the allowedTransitions and allowedActions workflowd answered to an owning Participant.
A request that ran no statement, or more than one with its values, stops the bench: the ceiling
would then do different work from workflowd. The log settings are reset at the end.

`explain` (bench/scale.sh): sends one request (PATH under /api/v1) the same way, takes the statement
whose parameters hold DISTINCTIVE (each, when several), and prints EXPLAIN (ANALYZE, BUFFERS) of it with the same parameter
values, in a transaction that is rolled back. A write can't be replayed on what it already changed:
OLD=NEW replays it with parameter OLD replaced by NEW (another instance in the same state), `fresh`
with the id it created replaced by a new one.
"""
import json
import os
import re
import subprocess
import sys
import time
import uuid
import urllib.error
import urllib.request

PREFIX = "@@wfdcapture "
RECORD = re.compile(r"^@@wfdcapture (\d+) (LOG|DETAIL):  (.*)$")
PARAM = re.compile(r"\$(\d+) = (NULL|'((?:[^']|'')*)')")


def psql(url, *statements):
    """Each statement on its own (ALTER SYSTEM refuses to run inside a transaction block)."""
    commands = [arg for sql in statements for arg in ("-c", sql)]
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA", url, *commands], check=True,
                   stdout=subprocess.DEVNULL)


def call(method, url, token, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", "Bearer " + token)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None


def records(log, offset):
    """(pid, sql, [params]) of every `execute` logged after offset, with its DETAIL parameters."""
    with open(log, encoding="utf-8", errors="replace") as f:
        f.seek(offset)
        text = f.read()
    found, current = [], None  # current: [pid, kind, lines]
    entries = []
    for line in text.split("\n"):
        m = RECORD.match(line)
        if m:
            current = [m.group(1), m.group(2), [m.group(3)]]
            entries.append(current)
        elif current is not None and not line.startswith(PREFIX):
            current[2].append(line)
    for k, (pid, kind, lines) in enumerate(entries):
        head = lines[0]
        m = re.match(r"execute [^:]+: ", head)
        if kind != "LOG" or not m:
            continue
        sql = "\n".join([head[m.end():]] + lines[1:]).rstrip("\n")
        params = []
        if k + 1 < len(entries) and entries[k + 1][0] == pid and entries[k + 1][1] == "DETAIL":
            detail = "\n".join(entries[k + 1][2])
            if detail.startswith("parameters: "):
                for n, whole, quoted in PARAM.findall(detail):
                    params.append((int(n), None if whole == "NULL" else quoted.replace("''", "'")))
        params.sort()
        if [n for n, _ in params] != list(range(1, len(params) + 1)):
            raise SystemExit(f"capture: unreadable parameters of a statement in {log}")
        found.append((pid, sql, [v for _, v in params]))
    return found


def main(url, log, base, data_dir, out_dir):
    users = [line.split() for line in open(f"{data_dir}/users.txt") if line.strip()]
    tokens = [line.strip() for line in open(f"{data_dir}/tokens.txt") if line.strip()]
    seeded = [line.split() for line in open(f"{data_dir}/get.txt") if line.strip()]
    api = base.rstrip("/") + "/api/v1"
    user, token = users[0][1], tokens[0]
    os.makedirs(out_dir, exist_ok=True)

    psql(url, "ALTER SYSTEM SET log_statement = 'all'", f"ALTER SYSTEM SET log_line_prefix = '{PREFIX}%p '",
         "SELECT pg_reload_conf()")
    time.sleep(0.5)  # every backend applies the reload before its next command
    try:
        answers = {}

        def capture(op, method, path, body, slots, distinctive=None):
            """One request through workflowd; its statement is the one whose parameters hold `distinctive`
            (or, when None, the value of the answer's id: a create's new id is known only from its answer)."""
            offset = os.path.getsize(log)
            status, document = call(method, api + path, token, body)
            if status not in (200, 201):
                raise SystemExit(f"capture: {op} answered {status}")
            time.sleep(0.3)
            wanted = distinctive if distinctive is not None else document["id"]
            matching = [r for r in records(log, offset) if wanted in r[2]]
            if len(matching) != 1:
                raise SystemExit(f"capture: {op} ran {len(matching)} statements with its values (one expected; "
                                 f"PostgreSQL log {log})")
            write_op(out_dir, op, matching[0][1], matching[0][2], slots(document))
            answers[op] = document
            return document

        parameters = {"projectName": "Ceiling capture", "priority": 2, "tags": ["capture"]}

        def same_json(value):
            try:
                return json.loads(value) == parameters
            except ValueError:
                return False

        print("capturing workflowd's SQL for the C responder ceiling:")
        created = capture("create", "POST", "/workflows", {"workflowId": "create-prd", "parameters": parameters},
                          lambda answer: {"user": lambda v: v == user, "definition": lambda v: v == "create-prd",
                                          "parameters": same_json, "new_id": lambda v: v == answer["id"]})
        new_id = created["id"]
        seeded_id = seeded[0][0]  # owned by user 1 (bench/sql/seed.sql)
        capture("get", "GET", f"/workflows/{seeded_id}", None, lambda _: {"id": lambda v: v == seeded_id}, seeded_id)
        capture("list", "GET", "/workflows?limit=17", None,
                lambda _: {"user": lambda v: v == user, "limit_plus_one": lambda v: v == "18"}, "18")
        capture("transition", "POST", f"/workflows/{new_id}/transitions", {"to": "Running"},
                lambda _: {"user": lambda v: v == user, "id": lambda v: v == new_id, "to": lambda v: v == "Running"},
                new_id)
    finally:
        psql(url, "ALTER SYSTEM RESET log_statement", "ALTER SYSTEM RESET log_line_prefix", "SELECT pg_reload_conf()")

    # allowedTransitions/allowedActions per status, as workflowd answers an owning Participant: the
    # first seeded instances cycle through the seeded statuses, user k owning instance k.
    table = {}
    for instance, owner in seeded[:5]:
        status, document = call("GET", f"{api}/workflows/{instance}", tokens[int(owner) - 1])
        if status != 200:
            raise SystemExit(f"capture: get of seeded instance {instance} answered {status}")
        table[document["status"]] = document
    for document in (created, answers.get("transition")):
        if document:
            table.setdefault(document["status"], document)
    compact = lambda value: json.dumps(value, separators=(",", ":"))
    with open(f"{out_dir}/actions.txt", "w") as f:
        for status, document in sorted(table.items()):
            f.write(f"{status}\t{compact(document['allowedTransitions'])}\t{compact(document['allowedActions'])}\n")
    print(f"  actions of {len(table)} statuses: {', '.join(sorted(table))}")
    return 0


def literal(value):
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def explain(url, log, base, token, method, path, body, distinctive, replace):
    api = base.rstrip("/") + "/api/v1"
    psql(url, "ALTER SYSTEM SET log_statement = 'all'", f"ALTER SYSTEM SET log_line_prefix = '{PREFIX}%p '",
         "SELECT pg_reload_conf()")
    time.sleep(0.5)
    try:
        offset = os.path.getsize(log)
        status, document = call(method, api + path, token, None if body == "-" else json.loads(body))
        time.sleep(0.3)
        matching = [r for r in records(log, offset) if distinctive in r[2]]
    finally:
        psql(url, "ALTER SYSTEM RESET log_statement", "ALTER SYSTEM RESET log_line_prefix", "SELECT pg_reload_conf()")
    if status not in (200, 201) or not matching:
        raise SystemExit(f"explain: {method} {path} answered {status} and ran no statement with its values")
    if replace == "fresh":
        replace = f"{document['id']}={uuid.uuid4()}"
    old, new = replace.split("=", 1) if replace else (None, None)
    print(f"-- answered {status} after {len(matching)} statement(s) with its values; each replayed in a rolled-back transaction")
    failed = 0
    for _, sql, params in matching:
        params = [new if old is not None and value == old else value for value in params]
        args = f"({', '.join(literal(v) for v in params)})" if params else ""
        script = f"BEGIN;\nPREPARE explained AS {sql};\nEXPLAIN (ANALYZE, BUFFERS) EXECUTE explained{args};\nROLLBACK;\n"
        result = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA", url], input=script, text=True,
                                capture_output=True)
        print(f"-- {len(params)} parameters:")
        print(sql)
        print(result.stdout.rstrip() or result.stderr.rstrip())
        failed |= result.returncode
    return failed


def write_op(out_dir, op, sql, params, slots):
    lines = []
    for value in params:
        if value is None:
            lines.append("null")
            continue
        names = [name for name, wanted in slots.items() if wanted(value)]
        if len(names) > 1:
            raise SystemExit(f"capture: {op}: a parameter matches {names}")
        if names:
            lines.append("slot " + names[0])
        elif "\n" in value:
            raise SystemExit(f"capture: {op}: a constant parameter spans lines")
        else:
            lines.append("lit " + value)
    with open(f"{out_dir}/{op}.sql", "w") as f:
        f.write(sql)
    with open(f"{out_dir}/{op}.params", "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"  {op}: {len(params)} parameters ({', '.join(lines)})")


if __name__ == "__main__":
    if len(sys.argv) in (10, 11) and sys.argv[1] == "explain":
        sys.exit(explain(*sys.argv[2:10], sys.argv[10] if len(sys.argv) == 11 else ""))
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
