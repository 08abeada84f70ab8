#!/usr/bin/env python3
"""Correctness check of bench/run.sh, before any load: through nginx, the requests the
scenarios send must answer right, or the figures would measure error pages.

  check.py BASE_URL DATA_DIR
  check.py compare WORKFLOWD_URL CEILING_URL DATA_DIR
      the C libfcgi + libpq responder (bench/ceiling/fcgi_pg.c) answers create, get, list and transition
      with the same status, header names and JSON document as workflowd

DATA_DIR holds users.txt ("k uuid" per line), tokens.txt (token of user k on line k) and
get.txt ("instance-id k" per line, the seeded instances the get scenario reads).
Exit 0 when all is well; otherwise prints what was wrong and exits 1.
"""
import json
import re
import sys
import urllib.error
import urllib.request

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
failures = []


def call(method, url, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    try:
        document = json.loads(raw) if raw else None
    except ValueError:
        document = None
    return status, headers, document, raw


def expect(what, condition, detail=""):
    print(f"  {'ok  ' if condition else 'FAIL'} {what}" + (f"  ({detail})" if detail and not condition else ""))
    if not condition:
        failures.append(what)
    return condition


def main(base, data_dir):
    users = [line.split() for line in open(f"{data_dir}/users.txt") if line.strip()]
    tokens = [line.strip() for line in open(f"{data_dir}/tokens.txt") if line.strip()]
    seeded = [line.split() for line in open(f"{data_dir}/get.txt") if line.strip()]
    api = base.rstrip("/") + "/api/v1"
    user1, token1, token2 = users[0][1], tokens[0], tokens[1]
    print("correctness check:")

    status, _, doc, raw = call("GET", api + "/health")
    expect("GET /health answers 200", status == 200, f"{status} {raw[:200]!r}")

    params = {"projectName": "Correctness check", "priority": 1}
    status, headers, doc, raw = call("POST", api + "/workflows", token1,
                                     {"workflowId": "create-prd", "parameters": params})
    expect("create answers 201", status == 201, f"{status} {raw[:300]!r}")
    doc = doc or {}
    instance_id = doc.get("id", "")
    expect("create: the body is the new instance", UUID.match(instance_id or "") is not None
           and doc.get("workflowDefinitionId") == "create-prd" and doc.get("userId") == user1
           and doc.get("status") == "Created" and doc.get("currentStep") == 0 and doc.get("version") == 1
           and doc.get("context") == params and doc.get("totalSteps") == 8, raw[:300])
    expect("create: Location names it", (headers.get("Location") or "").endswith("/api/v1/workflows/" + instance_id),
           headers.get("Location"))

    status, headers, got, raw = call("GET", f"{api}/workflows/{instance_id}", token1)
    expect("get answers 200 with the same instance", status == 200 and got == doc, f"{status} {raw[:300]!r}")
    expect("get: ETag is the version", headers.get("ETag") == '"1"', headers.get("ETag"))

    status, _, _, raw = call("GET", f"{api}/workflows/{instance_id}", token2)
    expect("get as another user answers 404", status == 404, f"{status} {raw[:200]!r}")

    instance, owner = seeded[0][0], int(seeded[0][1])
    status, _, got, raw = call("GET", f"{api}/workflows/{instance}", tokens[owner - 1])
    expect("get of a seeded instance with its owner's token answers 200",
           status == 200 and (got or {}).get("id") == instance, f"{status} {raw[:200]!r}")

    status, _, page, raw = call("GET", api + "/workflows?limit=20", token1)
    items = (page or {}).get("items", [])
    expect("list answers 200, newest first, 20 items and a next cursor",
           status == 200 and len(items) == 20 and items[0].get("id") == instance_id
           and bool((page or {}).get("nextCursor")), f"{status} {raw[:200]!r}")
    expect("list: only the caller's instances", all(i.get("userId") == user1 for i in items))

    # The context scenario's query: seeded instance n (line n of get.txt) has context team "team-<n % 7>".
    wanted = [line[0] for n, line in enumerate(seeded, start=1) if line[1] == "1" and n % 7 == 3][::-1][:20]
    status, _, page, raw = call("GET", api + "/workflows?limit=20&context=%7B%22team%22%3A%22team-3%22%7D", token1)
    found = [i.get("id") for i in (page or {}).get("items", [])]
    expect("list by context answers 200 with exactly the caller's seeded instances of that team, newest first",
           status == 200 and wanted and found == wanted, f"{status} {found} != {wanted}")

    status, _, moved, raw = call("POST", f"{api}/workflows/{instance_id}/transitions", token1, {"to": "Running"})
    moved = moved or {}
    expect("transition to Running answers 200 with the instance Running at step 1, version 2",
           status == 200 and moved.get("id") == instance_id and moved.get("status") == "Running"
           and moved.get("currentStep") == 1 and moved.get("version") == 2, f"{status} {raw[:300]!r}")

    status, _, problem, raw = call("POST", f"{api}/workflows/{instance_id}/transitions", token1, {"to": "Running"})
    expect("a second start answers 400 (what an exhausted transition scenario would see)",
           status == 400 and (problem or {}).get("status") == 400, f"{status} {raw[:200]!r}")

    status, _, events, raw = call("GET", f"{api}/workflows/{instance_id}/events", token1)
    kinds = [e.get("type") for e in (events or {}).get("items", [])]
    expect("its history is InstanceCreated, StatusChanged", status == 200 and kinds == ["InstanceCreated", "StatusChanged"],
           f"{status} {kinds}")

    if failures:
        print(f"correctness check FAILED: {len(failures)} problem(s)")
        return 1
    print("correctness check passed")
    return 0


def compare(wfd, ceiling, data_dir):
    users = [line.split() for line in open(f"{data_dir}/users.txt") if line.strip()]
    tokens = [line.strip() for line in open(f"{data_dir}/tokens.txt") if line.strip()]
    seeded = [line.split() for line in open(f"{data_dir}/get.txt") if line.strip()]
    ours, theirs = wfd.rstrip("/") + "/api/v1", ceiling.rstrip("/") + "/api/v1"
    skip = {"date", "x-request-id", "content-length"}

    def names(headers):
        return sorted(k.lower() for k in headers.keys() if k.lower() not in skip)

    print("the C libfcgi + libpq responder against workflowd:")
    for instance, owner in seeded[1:6]:
        token = tokens[int(owner) - 1]
        s1, h1, d1, r1 = call("GET", f"{ours}/workflows/{instance}", token)
        s2, h2, d2, r2 = call("GET", f"{theirs}/workflows/{instance}", token)
        expect(f"get of a seeded {(d1 or {}).get('status')} instance: same status, headers and document",
               s1 == s2 == 200 and d1 == d2 and names(h1) == names(h2) and h1.get("ETag") == h2.get("ETag"),
               f"{s1}/{s2} {names(h1)} {names(h2)} {r2[:300]!r}")
    token = tokens[2]
    s1, _, d1, _ = call("GET", f"{ours}/workflows?limit=20", token)
    s2, _, d2, r2 = call("GET", f"{theirs}/workflows?limit=20", token)
    expect("list: the same page and cursor", s1 == s2 == 200 and d1 == d2 and (d1 or {}).get("nextCursor"),
           f"{s1}/{s2} {r2[:300]!r}")
    s2, _, _, r2 = call("GET", f"{theirs}/workflows/{seeded[0][0]}", tokens[1])
    expect("get of another user's instance answers 404", s2 == 404, f"{s2} {r2[:200]!r}")

    params = {"projectName": "Ceiling check", "priority": 3, "tags": ["a", "b"]}
    s2, h2, created, r2 = call("POST", f"{theirs}/workflows", tokens[0], {"workflowId": "code-review", "parameters": params})
    created = created or {}
    s1, h1, d1, r1 = call("GET", f"{ours}/workflows/{created.get('id')}", tokens[0])
    expect("create answers 201 with the instance workflowd then reads, and its Location",
           s2 == 201 and s1 == 200 and created == d1 and created.get("userId") == users[0][1]
           and (h2.get("Location") or "").endswith("/api/v1/workflows/" + created.get("id", "?")),
           f"{s2}/{s1} {r2[:300]!r} vs {r1[:300]!r}")
    s2, _, moved, r2 = call("POST", f"{theirs}/workflows/{created.get('id')}/transitions", tokens[0], {"to": "Running"})
    s1, _, d1, r1 = call("GET", f"{ours}/workflows/{created.get('id')}", tokens[0])
    expect("transition to Running answers 200 with the instance workflowd then reads",
           s2 == 200 and s1 == 200 and moved == d1 and (moved or {}).get("status") == "Running"
           and (moved or {}).get("version") == 2, f"{s2}/{s1} {r2[:300]!r} vs {r1[:300]!r}")
    if failures:
        print(f"comparison FAILED: {len(failures)} problem(s)")
        return 1
    print("the C responder answers as workflowd does")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3], sys.argv[4]))
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
