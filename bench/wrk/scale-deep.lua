-- scale-deep (bench/scale.sh): a deep page of the listing, GET /api/v1/workflows?limit=20&cursor=…, the
-- cursor 80 instances down the user's listing (deep.lua: {cursor, user k}), as a random one of users 1..100.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local requests = {}
function bench.init()
  for i, e in ipairs(dofile(os.getenv("BENCH_DATA") .. "/deep.lua")) do
    requests[i] = wrk.format("GET", "/api/v1/workflows?limit=20&cursor=" .. e[1], { ["Authorization"] = bench.token(e[2]) })
  end
end
function bench.request() return requests[math.random(#requests)] end
