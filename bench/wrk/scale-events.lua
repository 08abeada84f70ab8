-- scale-events (bench/scale.sh): the first page of a random seeded instance's history,
-- GET /api/v1/workflows/{id}/events, with its owner's token (get.lua: {id, owner k}).
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local requests = {}
function bench.init()
  for i, e in ipairs(dofile(os.getenv("BENCH_DATA") .. "/get.lua")) do
    requests[i] = wrk.format("GET", "/api/v1/workflows/" .. e[1] .. "/events", { ["Authorization"] = bench.token(e[2]) })
  end
end
function bench.request() return requests[math.random(#requests)] end
