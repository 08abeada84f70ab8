#!/usr/bin/env bash
# Checks the monitoring files in deploy/ with Prometheus' own tool (run by `make test`):
#
#   1. `promtool check rules` on workflowd-alerts.yml (syntax, PromQL, templates);
#   2. `promtool test rules` on workflowd-alerts.test.yml (each alert fires on trouble, not otherwise);
#   3. workflowd-dashboard.json: valid JSON, unique panel ids, and every panel query valid PromQL
#      (Grafana's $__rate_interval and $job/$instance replaced, then checked as recording rules).
#
# promtool comes from Debian's `prometheus` package; deploy/install-promtool.sh installs it when missing.
# The metric names that the rules and the dashboard use are held to a real scrape by the end-to-end
# test aRealScrapePassesPromtoolCheckMetrics (which also runs `promtool check metrics` on it).
#
# Usage: deploy/check-monitoring.sh      exit 0 when everything passes
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
"$here/install-promtool.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

promtool check rules "$here/workflowd-alerts.yml"
(cd "$here" && promtool test rules workflowd-alerts.test.yml)

# The dashboard's queries as recording rules, so that promtool parses each one.
python3 - "$here/workflowd-dashboard.json" "$tmp/dashboard-queries.yml" <<'PY'
import json, sys
dashboard = json.load(open(sys.argv[1]))
ids = [p["id"] for p in dashboard["panels"]]
if len(ids) != len(set(ids)):
    sys.exit(f"workflowd-dashboard.json: duplicate panel ids {ids}")
lines = ["groups:", "  - name: dashboard", "    rules:"]
count = 0
for panel in dashboard["panels"]:
    for target in panel["targets"]:
        expr = (target["expr"].replace("$__rate_interval", "5m")
                .replace('"$job"', '".*"').replace('"$instance"', '".*"'))
        if "$" in expr:
            sys.exit(f"panel {panel['title']!r}: unknown variable in {target['expr']!r}")
        count += 1
        lines += [f"      - record: dashboard:query_{count}", f"        expr: {json.dumps(expr)}"]
if count == 0:
    sys.exit("workflowd-dashboard.json: no queries")
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
PY
promtool check rules "$tmp/dashboard-queries.yml"
