# The approval scenario of bench/run.sh (sourced after bench/lib.sh, not run): request → approve.
#
# Its targets are seeded like the transition targets (segments approval-c<conns> of TRANS_SEGMENTS) and
# then made Running before any run (bench_prepare_approvals; not measured). For each connection count:
#   1. "request approval" (wrk/request-approval.lua): each owner (a Participant) moves its Running
#      instance to WaitingForApproval with an `awaiting` that needs one approver;
#   2. "approve" (wrk/approve.lua): BENCH_APPROVERS Approvers (never the initiators) approve the waits
#      that run 1 acknowledged, then the segment's other targets, put into the same wait by SQL
#      beforehand (not measured), each once; each approval ends its wait (back to Running).
# After each run every acknowledged id is looked up with its events (verify_approvals).

BENCH_APPROVERS=${BENCH_APPROVERS:-10}

# Approver tokens ($DATA/approver-tokens.lua) and the approval targets made Running, with their event.
bench_prepare_approvals() {
  log "minting $BENCH_APPROVERS Approver tokens; the approval targets start Running"
  psql_q -c "SELECT k, md5('bench-approver-' || k)::uuid FROM generate_series(1, $BENCH_APPROVERS) k ORDER BY k" |
    tr '|' ' ' >"$DATA/approvers.txt"
  local k token tokens="return {"
  while read -r k id; do
    token=$("$BIN" token --sub "$id" --role Approver --ttl 2h) || die "workflowd token failed"
    tokens+=$'\n'"\"$token\","
  done <"$DATA/approvers.txt"
  echo "$tokens"$'\n'"}" >"$DATA/approver-tokens.lua"
  local c
  for c in $BENCH_CONNS; do
    psql_q >/dev/null <<SQL
CREATE TEMP TABLE a (id uuid, k int);
\copy a FROM '$DATA/trans-approval-c$c.txt' (DELIMITER ' ')
UPDATE workflow_instances i SET status = 'Running', current_step = 1, version = 2, status_changed_at = now(), updated_at = now()
FROM a WHERE i.id = a.id;
INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, user_id, occurred_at)
SELECT i.id, 'StatusChanged', 'Created', 'Running', 1, i.user_id, now() FROM a JOIN workflow_instances i USING (id);
SQL
  done
}

approval_counts() {
  psql_q -F' ' -c "SELECT (SELECT count(*) FROM workflow_events WHERE type = 'StatusChanged' AND to_status = 'WaitingForApproval'),
    (SELECT count(*) FROM workflow_events WHERE type = 'ApprovalGranted')"
}

# run_approval CONNS: the two runs, each checked; appends to failures (run.sh's array).
run_approval() {
  local c=$1 request=approval-request-c$1 approve=approval-approve-c$1 before
  before=$(approval_counts)
  run_wrk "$request" request-approval workflowd "$c" "$BASE_URL" "$BENCH_SECONDS" "approval-c$c" "request approval"
  verify_approvals "$request" "$c" "$before" requested || failures+=("$request: $(kv "$OUT/$request/result" verify)")
  log "  $(kv "$OUT/$request/result" verify)"
  # The waits just opened, then (approving can outpace requesting) the segment's other Running targets put
  # into the same wait by SQL, not measured; each given to one approver.
  local opened=$OUT/$request/ids.txt
  [[ -s $opened ]] || { failures+=("$request: no wait opened, nothing to approve"); return; }
  psql_q >"$DATA/topped-$approve.txt" <<SQL
CREATE TEMP TABLE a (id uuid, k int);
\copy a FROM '$DATA/trans-approval-c$c.txt' (DELIMITER ' ')
WITH model AS (SELECT awaiting FROM workflow_instances WHERE id = '$(head -n 1 "$opened")'),
i AS (
  UPDATE workflow_instances i SET status = 'WaitingForApproval', awaiting = (SELECT awaiting FROM model),
         status_changed_at = now(), version = i.version + 1, updated_at = now()
  FROM a WHERE i.id = a.id AND i.status = 'Running'
  RETURNING i.id, i.user_id, i.awaiting
), ev AS (
  INSERT INTO workflow_events (workflow_instance_id, type, from_status, to_status, step, reason, data, user_id, occurred_at)
  SELECT id, 'StatusChanged', 'Running', 'WaitingForApproval', 1, 'PRD draft ready', awaiting, user_id, now() FROM i
)
SELECT id FROM i;
SQL
  cat "$opened" "$DATA/topped-$approve.txt" | awk -v n="$BENCH_APPROVERS" 'NF { print $1, (NR - 1) % n + 1 }' >"$DATA/trans-$approve.txt"
  before=$(approval_counts)
  run_wrk "$approve" approve workflowd "$c" "$BASE_URL" "$BENCH_SECONDS" "$approve" "approve"
  verify_approvals "$approve" "$c" "$before" approved || failures+=("$approve: $(kv "$OUT/$approve/result" verify)")
  log "  $(kv "$OUT/$approve/result" verify)"
  local ok ex name
  for name in "$request" "$approve"; do
    ok=$(kv "$OUT/$name/result" ok)
    ((${ok:-0} > 0)) || failures+=("$name: no 2xx response (see $OUT/$name/wrk.txt and errors.*)")
    ex=$(kv "$OUT/$name/result" exhausted)
    ((${ex:-0} == 0)) || log "  NOTE: $name ran out of targets; $ex requests reused answered ones (409s)."
  done
}

# verify_approvals NAME CONNS "BEFORE" requested|approved: every acknowledged id is in the state the
# run left it in, with exactly one event of it, and the event deltas allow at most CONNS in flight.
verify_approvals() {
  local name=$1 conns=$2 before=$3 kind=$4 dir=$OUT/$1
  sleep 1  # let requests that were in flight when wrk stopped finish
  local acked unparsed after state
  acked=$(kv "$dir/result" transitioned); unparsed=$(kv "$dir/result" unparsed)
  after=$(approval_counts)
  cat "$dir"/transitioned.[0-9]* 2>/dev/null >"$dir/ids.txt" || true
  if [[ $kind == requested ]]; then
    state="i.status = 'WaitingForApproval' AND i.awaiting->>'kind' = 'approval'
      AND (SELECT count(*) FROM workflow_events e WHERE e.workflow_instance_id = t.id AND e.type = 'StatusChanged'
             AND e.from_status = 'Running' AND e.to_status = 'WaitingForApproval') = 1"
  else
    state="i.status = 'Running' AND i.awaiting IS NULL AND cardinality(i.decided_by) = 1
      AND (SELECT count(*) FROM workflow_events e WHERE e.workflow_instance_id = t.id AND e.type = 'ApprovalGranted') = 1
      AND (SELECT count(*) FROM workflow_events e WHERE e.workflow_instance_id = t.id AND e.type = 'StatusChanged'
             AND e.from_status = 'WaitingForApproval' AND e.to_status = 'Running') = 1"
  fi
  local check
  check=$(psql_q -F' ' <<SQL
CREATE TEMP TABLE t (id uuid);
\copy t FROM '$dir/ids.txt'
ANALYZE t, workflow_instances, workflow_events;  -- stale statistics give a quadratic plan (lib.sh: verify_writes)
SELECT (SELECT count(*) FROM t), (SELECT count(DISTINCT id) FROM t),
       (SELECT count(*) FROM t JOIN workflow_instances i USING (id) WHERE $state);
SQL
  ) || { echo "verify=FAILED (query)" >>"$dir/result"; return 1; }
  local -a v b a
  read -r -a v <<<"$check"; read -r -a b <<<"$before"; read -r -a a <<<"$after"
  local delta=$((a[0] - b[0])) what="waits opened"
  [[ $kind == approved ]] && delta=$((a[1] - b[1])) what="approvals"
  local problems=()
  ((unparsed == 0)) || problems+=("$unparsed 2xx answers without a readable id")
  ((v[0] == acked)) || problems+=("wrk counted $acked but wrote ${v[0]} ids")
  ((v[1] == v[0])) || problems+=("duplicate ids")
  ((v[2] == v[0])) || problems+=("$((v[0] - v[2])) acknowledged $what are not in the database with their events")
  ((delta >= acked && delta - acked <= conns)) || problems+=("$delta $what written for $acked acknowledged (at most $conns in flight)")
  {
    echo "unacknowledged_writes=$((delta - acked))"
    if ((${#problems[@]})); then
      echo "verify=FAILED: $(IFS=';'; echo "${problems[*]}")"
    else
      echo "verify=ok: $acked $what acknowledged, all found by id with their events"
    fi
  } >>"$dir/result"
  ((${#problems[@]} == 0))
}
