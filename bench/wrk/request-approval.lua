-- request approval: POST /api/v1/workflows/{id}/transitions to WaitingForApproval with an `awaiting`
-- (one approver), by the owner (a Participant), on Running instances of $BENCH_TRANS, each once.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
local body = '{"to":"WaitingForApproval","reason":"PRD draft ready",'
  .. '"awaiting":{"prompt":"Sign off the PRD draft.","approvers":{"count":1},"onReject":"Rework"}}'
function bench.request()
  local e = bench.next_target()
  return wrk.format("POST", "/api/v1/workflows/" .. e[1] .. "/transitions",
    { ["Authorization"] = bench.token(e[2]), ["Content-Type"] = "application/json" }, body)
end
