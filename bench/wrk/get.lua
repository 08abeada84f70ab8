-- get: GET /api/v1/workflows/{id} of a random seeded instance, with its owner's token.
-- Also the request of the ceilings (nginx `return 200`, the C libfcgi responder): same bytes on the wire.
local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
function bench.request() return bench.get_request() end
