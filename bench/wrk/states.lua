-- states: GET /api/v1/workflow-states with a seeded user's token: a route that verifies the token,
-- routes, renders fixed JSON and never touches PostgreSQL. workflowd's CPU per request here is its
-- fixed cost per request (FastCGI, parsing, JWT from the cache, routing, logging, metrics), to set
-- against the C libfcgi responder's fixed JSON (bench/ceiling/fcgi_ceiling.c). Not a ceiling row:
-- a diagnostic (`BENCH_AB_SCENARIOS=states bench/ab.sh A B`).
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
function bench.request()
  if not states_requests then
    states_requests = {}
    for k, auth in ipairs(bench.auth) do
      states_requests[k] = wrk.format("GET", "/api/v1/workflow-states", { ["Authorization"] = auth })
    end
  end
  return states_requests[math.random(#states_requests)]
end
