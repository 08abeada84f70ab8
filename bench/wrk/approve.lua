-- approve: POST /api/v1/workflows/{id}/approvals {"decision":"approve"} by an Approver (never the
-- initiator), on the waits the request-approval run opened ($BENCH_TRANS: "id k", k the approver),
-- each once; the one approval a wait needs ends it (back to Running).
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local approvers = {}
function bench.init()
  for k, token in ipairs(dofile(os.getenv("BENCH_DATA") .. "/approver-tokens.lua")) do approvers[k] = "Bearer " .. token end
end
local body = '{"decision":"approve","comment":"Reads well; approved."}'
function bench.request()
  local e = bench.next_target()
  return wrk.format("POST", "/api/v1/workflows/" .. e[1] .. "/approvals",
    { ["Authorization"] = approvers[e[2]], ["Content-Type"] = "application/json" }, body)
end
