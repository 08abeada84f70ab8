# Webhook scenarios for bench/run.sh (sourced after lib.sh; BENCH_WEBHOOKS=0 skips them).
#
#   create-hooks1, create-hooks10: the create scenario again with 1 and with 10 active subscriptions that
#     match every event, to set beside plain `create`: what the outbox costs the write path (the trigger
#     writes one outbox row per event, whatever the number of subscriptions). The fan-out is held back
#     meanwhile (the bench holds its advisory lock), so the delivery workers find nothing to send and the
#     figures are the write path's alone.
#   create-hooks10-delivering: the same with 10 subscriptions while the workers fan out and deliver
#     (2 threads, to a local receiver, on the same cores), as a single-machine deployment would.
#   delivery rate: after those runs, deliveries that succeeded per second over BENCH_SECONDS, the backlog
#     still pending (workflowd's workers against scripts/webhook-receiver.py on loopback, always 200).
# Results: the runs join the table; the delivery line goes to $RUN/webhooks.txt, which the report prints.

bench_webhook_receiver() {
  local port_file=$RUN/receiver.port
  rm -f "$port_file"
  python3 "$ROOT/scripts/webhook-receiver.py" --port-file "$port_file" --log "$RUN/logs/receiver.jsonl" \
    >"$RUN/logs/receiver.out" 2>&1 &
  RECEIVER_PID=$!
  echo "$RECEIVER_PID" >"$RUN/receiver.pid"
  local i
  for ((i = 0; i < 100; i++)); do [[ -s $port_file ]] && break; sleep 0.05; done
  [[ -s $port_file ]] || die "the webhook receiver did not start (see $RUN/logs/receiver.out)"
  RECEIVER_PORT=$(cat "$port_file")
}

# bench_subscribe N: N active subscriptions to every event, all to the receiver.
bench_subscribe() {
  psql_q -c "INSERT INTO webhook_subscriptions (id, url, secret)
             SELECT gen_random_uuid(), 'http://127.0.0.1:$RECEIVER_PORT/bench',
                    'whsec_' || encode(decode(md5(random()::text) || md5(random()::text), 'hex'), 'base64')
             FROM generate_series(1, $1)" >/dev/null
}

# bench_hold_fanout / bench_release_fanout: a psql session that holds the fan-out's advisory lock
# (PostgresWebhookRepository.fanOutLockKey), so that events stay in the outbox.
bench_hold_fanout() {
  rm -f "$RUN/fanout.fifo"
  mkfifo "$RUN/fanout.fifo"
  psql -X -q "$DATABASE_URL" <"$RUN/fanout.fifo" >/dev/null 2>&1 &
  FANOUT_PID=$!
  exec {FANOUT_FD}>"$RUN/fanout.fifo"
  echo "SELECT pg_advisory_lock(x'776562686f6f6b73'::bigint);" >&"$FANOUT_FD"
  local i
  for ((i = 0; i < 100; i++)); do
    [[ $(psql_q -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") == 1 ]] && return
    sleep 0.05
  done
  die "the fan-out lock was not taken"
}
bench_release_fanout() {
  exec {FANOUT_FD}>&-
  wait "$FANOUT_PID" 2>/dev/null || true
  rm -f "$RUN/fanout.fifo"
}

# bench_create_hooks N NAME-SUFFIX LABEL-SUFFIX: the create runs with N subscriptions.
bench_create_hooks() {
  local n=$1 c name before
  for c in $BENCH_CONNS; do
    name=create-hooks$n$2-c$c
    before=$(db_counts)
    run_wrk "$name" create workflowd "$c" "$BASE_URL" "$BENCH_SECONDS" "" "create, $n webhook$([[ $n == 1 ]] || echo s)$3"
    ok=$(kv "$OUT/$name/result" ok)
    ((${ok:-0} > 0)) || failures+=("$name: no 2xx response (see $OUT/$name/wrk.txt and errors.*)")
    verify_writes "$name" "$c" "$before" || failures+=("$name: $(kv "$OUT/$name/result" verify)")
    log "  $(kv "$OUT/$name/result" verify)"
  done
}

bench_webhooks() {
  bench_webhook_receiver
  local n
  bench_hold_fanout
  for n in 1 10; do
    psql_q -c "DELETE FROM webhook_subscriptions" -c "TRUNCATE webhook_outbox" >/dev/null
    bench_subscribe "$n"
    bench_create_hooks "$n" "" ""
  done
  psql_q -c "TRUNCATE webhook_outbox" >/dev/null
  bench_release_fanout
  bench_create_hooks 10 -delivering ", delivering"
  local d0 d1 pending i succeeded="SELECT count(*) FROM webhook_deliveries WHERE state = 'succeeded'"
  # The rate is that of deliveries under way: an idle worker looks for work every 0.5-2 s, and a short
  # create run (the smoke's 2 s) can end before the first one has; so the window opens at the first
  # delivery (waiting 15 s at most).
  for ((i = 0; i < 150; i++)); do
    (($(psql_q -c "$succeeded") > 0)) && break
    sleep 0.1
  done
  d0=$(psql_q -c "$succeeded")
  sleep "$BENCH_SECONDS"
  d1=$(psql_q -c "$succeeded")
  pending=$(psql_q -c "SELECT (SELECT count(*) FROM webhook_deliveries WHERE state = 'pending')
                              + (SELECT coalesce(sum(cardinality(subscription_ids)), 0) FROM webhook_outbox)")
  local rate=$(((d1 - d0) / BENCH_SECONDS))
  echo "webhook delivery rate: $rate deliveries/s to a local receiver over ${BENCH_SECONDS}s (1 workflowd, 2 delivery threads; $pending still pending after)" \
    >"$RUN/webhooks.txt"
  log "  $(cat "$RUN/webhooks.txt")"
  ((d1 > d0)) || failures+=("webhooks: nothing was delivered in ${BENCH_SECONDS}s")
  psql_q -c "DELETE FROM webhook_subscriptions" >/dev/null
  kill "$RECEIVER_PID" 2>/dev/null || true
}
