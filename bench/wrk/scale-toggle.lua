-- scale-toggle (bench/scale.sh): a transition that never runs out of targets. Each thread takes every
-- T-th of the users' Running instances (toggle.txt: "id k" per line) and moves them in turn to Paused,
-- then, on its next pass, back to Running, with the owner's token. The pool is far larger than the
-- connections, so no instance has two requests in flight; a refused one (409) shows as non-2xx.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local pool, pos, pass = {}, 0, 0
function bench.init()
  local nthreads = tonumber(os.getenv("BENCH_WRK_THREADS") or "2")
  local i = 0
  for line in io.lines(os.getenv("BENCH_DATA") .. "/toggle.txt") do
    i = i + 1
    if (i - tid) % nthreads == 0 then
      local id, k = line:match("^(%S+)%s+(%d+)")
      pool[#pool + 1] = { id, tonumber(k) }
    end
  end
  assert(#pool > 0, "toggle.txt has no Running instances for this thread")
end
function bench.request()
  pos = pos + 1
  if pos > #pool then pos, pass = 1, pass + 1 end
  local e = pool[pos]
  local body = pass % 2 == 0 and '{"to":"Paused"}' or '{"to":"Running"}'
  return wrk.format("POST", "/api/v1/workflows/" .. e[1] .. "/transitions",
    { ["Authorization"] = bench.token(e[2]), ["Content-Type"] = "application/json" }, body)
end
