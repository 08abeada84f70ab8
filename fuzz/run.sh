#!/usr/bin/env bash
# Fuzz workflowd's HTTP API with schemathesis, through nginx, against the
# OpenAPI document the server itself serves (GET /api/v1/openapi.json).
#
#   fuzz/run.sh BASE_URL TOKEN
#
#   BASE_URL  nginx in front of workflowd, e.g. http://127.0.0.1:8080
#   TOKEN     a Participant JWT that stays valid for the whole run, e.g.
#             `workflowd token --sub <uuid> --role Participant --ttl 1h`
#
# Every check (`--checks all`), positive and negative data (`--mode all`), all
# phases (examples, coverage, fuzzing, stateful = sequences through the
# document's links and the ones schemathesis infers), a fixed seed and a
# bounded number of examples per operation (the two event streams fewer:
# fuzz/schemathesis.toml); about 2.5 minutes on 2 cores, most of it
# schemathesis' own generating. Exits 0 only when schemathesis reports no failure at all: no 5xx,
# every response conforming to the document (status, headers, content type,
# schema), valid data accepted, invalid data rejected, 405s with `Allow`, ...
# Every failure is printed with a curl command that reproduces it.
#
# Env: FUZZ_SEED (42), FUZZ_MAX_EXAMPLES (200 per operation and phase; the
#      streams' 25 in fuzz/schemathesis.toml take precedence),
#      FUZZ_TIMEOUT (600: hard limit in seconds for the schemathesis run),
#      FUZZ_REPORT_DIR (when set: JUnit XML and a HAR of every request there;
#      the token is filtered out), PYTHON (python3, >= 3.11, for the venv).
#
# Installs fuzz/requirements.txt into .run/fuzz-venv (not the system's Python)
# when missing or changed. Checks that deliberately deviate from schemathesis'
# defaults are configured, with their reasons, in fuzz/schemathesis.toml.
# Exit: 0 no failure; 1 failures; 2 usage or setup error; 124 timed out.
set -euo pipefail

die() { echo "fuzz/run.sh: error: $*" >&2; exit 2; }
usage() { sed -n '4,9s/^# \{0,1\}//p' "$0" >&2; exit 2; }

(($# == 2)) || usage
BASE_URL=${1%/}
TOKEN=$2
[[ $BASE_URL =~ ^https?://[^/]+(/.*)?$ ]] || die "BASE_URL must be http(s)://host:port, got '$1'"
[[ -n $TOKEN ]] || die "TOKEN is empty"

SEED=${FUZZ_SEED:-42}
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-200}
TIMEOUT=${FUZZ_TIMEOUT:-600}
PYTHON=${PYTHON:-python3}
for v in SEED MAX_EXAMPLES TIMEOUT; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a number, got '${!v}'"
done

FUZZ=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$FUZZ")
VENV=$ROOT/.run/fuzz-venv
REQS=$FUZZ/requirements.txt
CONFIG=$FUZZ/schemathesis.toml

# --- schemathesis in a venv, (re)installed when requirements.txt changes ------
ensure_venv() {
  local want have=''
  want=$(sha256sum "$REQS" | cut -d' ' -f1)
  [[ -f $VENV/.requirements.sha256 ]] && have=$(cat "$VENV/.requirements.sha256")
  [[ $want == "$have" && -x $VENV/bin/schemathesis ]] && return 0
  command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (install python3)"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "schemathesis needs Python >= 3.11; $PYTHON is $("$PYTHON" -V 2>&1)"
  if [[ ! -x $VENV/bin/python ]]; then
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV" >/dev/null 2>&1 || {
      rm -rf "$VENV"
      die "'$PYTHON -m venv' failed; on Debian install python3-venv (apt-get install python3-venv)"
    }
  fi
  echo "fuzz/run.sh: installing fuzz/requirements.txt into .run/fuzz-venv" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$REQS" ||
    die "pip install -r fuzz/requirements.txt failed"
  echo "$want" >"$VENV/.requirements.sha256"
}
ensure_venv

# --- scratch dir: the document, and hypothesis' .hypothesis/ (it writes to cwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/workflowd-fuzz.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

curl -fsS --max-time 10 -o "$TMP/openapi.json" "$BASE_URL/api/v1/openapi.json" ||
  die "could not fetch $BASE_URL/api/v1/openapi.json (is the stack up?)"
"$VENV/bin/python" - "$TMP/openapi.json" <<'EOF' || die "the served document is not an OpenAPI 3 JSON document"
import json, sys
doc = json.load(open(sys.argv[1]))
sys.exit(0 if str(doc.get("openapi", "")).startswith("3.") and doc.get("paths") else 1)
EOF

# --- the token: schemathesis accepts 401 for valid data, so an expired or
# rejected token would turn the run into a quiet sea of 401s. Refuse it here.
"$VENV/bin/python" - "$TOKEN" <<'EOF' || exit 2
import base64, json, sys, time
try:
    part = sys.argv[1].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
except Exception:
    sys.exit("fuzz/run.sh: error: TOKEN is not a JWT")
left = claims.get("exp", 0) - time.time()
if left < 600:
    sys.exit(f"fuzz/run.sh: error: TOKEN expires in {int(left)} s; give it at least 10 minutes (--ttl 1h)")
roles = claims.get("roles", claims.get("role", []))
roles = [roles] if isinstance(roles, str) else roles
if "Participant" not in roles:
    print(f"fuzz/run.sh: warning: TOKEN has roles {roles}, not Participant; "
          "create/transition/advance will mostly answer 403", file=sys.stderr)
EOF
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
  -H "Authorization: Bearer $TOKEN" "$BASE_URL/api/v1/workflows?limit=1") || code=000
[[ $code == 200 ]] ||
  die "GET $BASE_URL/api/v1/workflows with TOKEN answered $code, not 200 (wrong secret? expired?)"

# --- the run ------------------------------------------------------------------
args=(
  --config-file "$CONFIG"
  run "$TMP/openapi.json"
  --url "$BASE_URL"
  -H "Authorization: Bearer $TOKEN"
  --checks all
  --mode all                                    # positive and negative data
  --phases examples,coverage,fuzzing,stateful
  --seed "$SEED"
  --max-examples "$MAX_EXAMPLES"
  # One worker: with 2 cores, 2 workers were slower and, with the stateful
  # phase, made the run depend on scheduling; one keeps a seed reproducible.
  --workers 1
  # Report every failure of an operation, not only the first one: a failure
  # in the coverage phase would otherwise hide the rest of that operation.
  --continue-on-failure
  --request-timeout 35                          # above nginx's 30 s fastcgi_read_timeout
  --no-color
)
if [[ -n ${FUZZ_REPORT_DIR:-} ]]; then
  mkdir -p "$FUZZ_REPORT_DIR"
  FUZZ_REPORT_DIR=$(cd "$FUZZ_REPORT_DIR" && pwd)
  args+=(--report junit,har --report-dir "$FUZZ_REPORT_DIR")
fi

echo "fuzz/run.sh: schemathesis against $BASE_URL (seed $SEED, max $MAX_EXAMPLES examples)" >&2
rc=0
(cd "$TMP" && exec timeout -k 10 "$TIMEOUT" "$VENV/bin/schemathesis" "${args[@]}") || rc=$?
case $rc in
  0) echo "fuzz/run.sh: no failures" >&2 ;;
  124|137) echo "fuzz/run.sh: error: schemathesis did not finish within $TIMEOUT s" >&2; rc=124 ;;
  *) echo "fuzz/run.sh: schemathesis reported failures or errors (exit $rc); see above" >&2 ;;
esac
exit "$rc"
