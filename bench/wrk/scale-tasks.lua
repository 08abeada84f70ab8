-- scale-tasks (bench/scale.sh): the inbox, GET /api/v1/tasks, as a random one of users 1..100 (their
-- tokens carry Participant and Approver: both branches, their own input waits and every approval wait).
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local requests = {}
function bench.init()
  for k = 1, #bench.tokens do
    requests[k] = wrk.format("GET", "/api/v1/tasks", { ["Authorization"] = bench.token(k) })
  end
end
function bench.request() return requests[bench.random_user()] end
