-- list: the first page of 20, GET /api/v1/workflows?limit=20, as a random one of the 100 seeded users.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local requests = {}
function bench.init()
  for k = 1, #bench.tokens do
    requests[k] = wrk.format("GET", "/api/v1/workflows?limit=20", { ["Authorization"] = bench.token(k) })
  end
end
function bench.request() return requests[bench.random_user()] end
