-- context: the first page of 20 of a containment query, GET /api/v1/workflows?limit=20&context={"team":"team-T"}
-- (URL-encoded), as a random one of the seeded users with a random team T of 0..6: about 3 of each user's
-- 20 seeded instances match (bench/sql/seed.sql: team-<n % 7>). Beside `list`, it shows what the filter costs.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local requests = {}
function bench.init()
  for k = 1, #bench.tokens do
    requests[k] = {}
    for team = 0, 6 do
      requests[k][team] = wrk.format("GET", "/api/v1/workflows?limit=20&context=%7B%22team%22%3A%22team-" .. team .. "%22%7D",
        { ["Authorization"] = bench.token(k) })
    end
  end
end
function bench.request() return requests[bench.random_user()][math.random(0, 6)] end
