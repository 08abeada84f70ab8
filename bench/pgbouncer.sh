# The PgBouncer variant of bench/run.sh (sourced after bench/lib.sh and bench_start, not run).
#
# A second workflowd, with WORKFLOWD_PGBOUNCER=transaction and the same workers and pool, reaches the
# bench cluster through PgBouncer in transaction mode (scripts/pgbouncer.sh: Debian's 1.18, loopback
# TCP on both sides, a server pool as large as workflowd's) behind a second nginx with the production
# site. Its runs sit in the table beside the direct ones, labelled "… via PgBouncer". PgBouncer's own CPU
# is in none of the columns (it is its own process, about one core's worth at most: it is single-threaded).

# Starts PgBouncer, then a second stack (scripts/stack.sh) on the bench database through it: the
# responder and its nginx (the production site without rate limits); sets PGB_URL, PGB_WFD_PID,
# PGB_NGINX_PID.
bench_start_pgbouncer() {
  local bouncer_port nginx_port
  bouncer_port=$("$ROOT/scripts/pg.sh" free-port)
  nginx_port=$("$ROOT/scripts/pg.sh" free-port)
  log "PgBouncer (transaction mode, pool $WORKERS) on 127.0.0.1:$bouncer_port; a second workflowd behind it"
  "$ROOT/scripts/pgbouncer.sh" start "$RUN/pgbouncer" "$bouncer_port" "$PG_PORT" "$WORKERS"
  # Behind a transaction pooler workflowd cannot set statement_timeout per connection; it checks that
  # the server applies the configured one (the default, 5000 ms).
  psql_q -c "ALTER DATABASE workflowd SET statement_timeout = 5000"
  unlimited_site >"$RUN/site-pgbouncer.conf"
  # The database is migrated already; `migrate` (a no-op here) goes to PostgreSQL directly, as it must.
  WORKFLOWD_NGINX_SITE=$RUN/site-pgbouncer.conf WORKFLOWD_MIGRATIONS_DATABASE_URL=$DATABASE_URL \
    "$ROOT/scripts/stack.sh" up "$RUN/pgb" --bin "$BIN" --port "$nginx_port" --timeout 60 \
    --database-url "$("$ROOT/scripts/pgbouncer.sh" url "$RUN/pgbouncer" workflowd)" \
    --env WORKFLOWD_PGBOUNCER=transaction --env WORKFLOWD_LOG_LEVEL=warning --env "WORKFLOWD_WORKERS=$WORKERS" ||
    die "workflowd behind PgBouncer did not start"
  PGB_WFD_PID=$(cat "$RUN/pgb/workflowd0.pid")
  PGB_NGINX_PID=$(cat "$RUN/pgb/nginx/nginx.pid")
  PGB_URL=http://127.0.0.1:$nginx_port
}

# run_wrk_pgbouncer NAME SCENARIO CONNS SECONDS [TRANS_SEGMENT]: run_wrk against the PgBouncer responder.
run_wrk_pgbouncer() {
  WFD_PID=$PGB_WFD_PID NGINX_PID=$PGB_NGINX_PID \
    run_wrk "$1" "$2" workflowd "$3" "$PGB_URL" "$4" "${5:-}" "$2 via PgBouncer"
}

bench_stop_pgbouncer() {
  "$ROOT/scripts/stack.sh" down "$RUN/pgb"
  "$ROOT/scripts/pgbouncer.sh" stop "$RUN/pgbouncer"
}
