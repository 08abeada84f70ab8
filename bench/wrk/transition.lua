-- transition: POST /api/v1/workflows/{id}/transitions {"to":"Running"} on the seeded Created instances
-- of $BENCH_TRANS, each once, with the owner's token. An instance already Running would answer 400;
-- that only happens when the seeded ones run out (counted as "exhausted") and is reported as an error.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
function bench.request() return bench.transition_request() end
