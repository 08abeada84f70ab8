-- create: POST /api/v1/workflows as a random one of the 100 seeded users, random workflow and parameters.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
function bench.request() return bench.create_request() end
