-- scale-toggle (bench/scale.sh): a transition that never runs out of targets. Each thread takes every
-- T-th of the users' Running and Paused instances (toggle.txt: "id k status" per line) and moves each in
-- turn to the other status, then, on its next pass, back, with the owner's token. A run ends mid-pass and
-- leaves some instances Paused; the set of Running and Paused ones stays the same, so runs on a kept stack
-- never drain it. The pool is far larger than the connections, so no instance has two requests in flight;
-- a refused one shows as non-2xx.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local pool, pos, pass = {}, 0, 0
function bench.init()
  local nthreads = tonumber(os.getenv("BENCH_WRK_THREADS") or "2")
  local i = 0
  for line in io.lines(os.getenv("BENCH_DATA") .. "/toggle.txt") do
    i = i + 1
    if (i - tid) % nthreads == 0 then
      local id, k, status = line:match("^(%S+)%s+(%d+)%s+(%S+)")
      pool[#pool + 1] = { id, tonumber(k), status == "Paused" and 1 or 0 }
    end
  end
  assert(#pool > 0, "toggle.txt has no Running or Paused instances for this thread")
end
function bench.request()
  pos = pos + 1
  if pos > #pool then pos, pass = 1, pass + 1 end
  local e = pool[pos]
  local body = (pass + e[3]) % 2 == 0 and '{"to":"Paused"}' or '{"to":"Running"}'
  return wrk.format("POST", "/api/v1/workflows/" .. e[1] .. "/transitions",
    { ["Authorization"] = bench.token(e[2]), ["Content-Type"] = "application/json" }, body)
end
