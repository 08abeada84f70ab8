-- mixed: 70 % get, 20 % create, 10 % transition (each as in get.lua, create.lua, transition.lua).
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
function bench.request()
  local r = math.random()
  if r < 0.7 then return bench.get_request() end
  if r < 0.9 then return bench.create_request() end
  return bench.transition_request()
end
