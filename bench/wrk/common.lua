-- Shared by the wrk scenario scripts of bench/run.sh. A scenario script does
--
--   local bench = dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
--   function bench.request() return <a request built with wrk.format> end
--
-- and gets the wrk callbacks defined here: setup/init/response/done. Every thread (its own Lua
-- state) counts its 2xx and non-2xx responses by status, and writes the id of every instance it
-- saw created (201) or started (200 on one of its transition targets) to a file, so that the
-- harness can prove each of them is really in the database. done() (main state) adds the threads
-- up, prints one RESULT line per figure and writes them to $BENCH_RESULT.
--
-- Environment:
--   BENCH_WRK_DIR      this directory
--   BENCH_DATA         directory with tokens.lua (array of bearer tokens, user k = tokens[k]) and
--                      get.lua (array of {instance id, owner k}) written by bench/run.sh
--   BENCH_TRANS        optional: a file of "instance-id k" lines, the instances this run may change
--                      (each once: seeded Created ones to start, approval waits to approve; k is the
--                      user whose token acts); thread t of T takes entries t, t+T, ...
--   BENCH_OUT          directory for the id files (created.<thread>, transitioned.<thread>,
--                      errors.<thread> with the first non-2xx answers)
--   BENCH_RESULT       file for done()'s key=value lines
--   BENCH_WRK_THREADS  the -t given to wrk (to split BENCH_TRANS between the threads)

local M = {}

local data_dir = os.getenv("BENCH_DATA")
local out_dir = os.getenv("BENCH_OUT")
local result_file = os.getenv("BENCH_RESULT")
local trans_file = os.getenv("BENCH_TRANS")
local nthreads = tonumber(os.getenv("BENCH_WRK_THREADS") or "2")

M.definitions = {
  "create-product-brief", "create-prd", "create-architecture", "create-epics-and-stories",
  "create-story", "dev-story", "code-review", "retrospective",
}

-- Main state: number the threads so that each takes its own share of the transition targets.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

-- Thread state (globals, read by done() through thread:get).
tid = 0
ok = 0            -- 2xx answers
non2xx = 0        -- everything else that came back
codes = {}        -- non-2xx count by status
created = 0       -- 201 answers (ids written to created.<tid>)
transitioned = 0  -- 200 answers on our transition targets (ids written to transitioned.<tid>)
exhausted = 0     -- transition targets reused because the seeded ones ran out (each gets a 400)
unparsed = 0      -- 2xx answers whose id could not be read (the harness fails on any)
local samples = 0
local files = {}

local function file(name)
  local f = files[name]
  if not f then
    if not out_dir then return nil end
    f = assert(io.open(string.format("%s/%s.%d", out_dir, name, tid), "w"))
    f:setvbuf("full", 65536)  -- flushed when wrk exits
    files[name] = f
  end
  return f
end

function init(args)
  math.randomseed(7919 * tid + 17)
  M.tokens = dofile(data_dir .. "/tokens.lua")
  M.auth = {}
  for k, token in ipairs(M.tokens) do M.auth[k] = "Bearer " .. token end
  M.trans, M.tset, M.tpos = {}, nil, 0
  if trans_file and trans_file ~= "" then
    M.tset = {}
    -- "uuid user" per line; each thread takes every nthreads-th target.
    local i = 0
    for line in io.lines(trans_file) do
      i = i + 1
      if (i - tid) % nthreads == 0 then
        local id, user = line:match("^(%S+)%s+(%d+)")
        if id then
          M.trans[#M.trans + 1] = { id, tonumber(user) }
          M.tset[id] = true
        end
      end
    end
  end
  if M.init then M.init() end
end

-- Helpers for the scenario scripts.
function M.token(k) return M.auth[k] end
function M.random_user() return math.random(#M.auth) end

function M.create_request()
  local k = M.random_user()
  local n = math.random(1, 1000000)
  local body = string.format(
    '{"workflowId":"%s","parameters":{"projectName":"Project %d","priority":%d,"tags":["bench","t%d"]}}',
    M.definitions[math.random(#M.definitions)], n, n % 5, n % 97)
  return wrk.format("POST", "/api/v1/workflows",
    { ["Authorization"] = M.auth[k], ["Content-Type"] = "application/json" }, body)
end

local get_requests
function M.get_request()
  if not get_requests then  -- prebuilt once per thread: 2000 small strings
    get_requests = {}
    for i, e in ipairs(dofile(data_dir .. "/get.lua")) do
      get_requests[i] = wrk.format("GET", "/api/v1/workflows/" .. e[1], { ["Authorization"] = M.auth[e[2]] })
    end
  end
  return get_requests[math.random(#get_requests)]
end

-- The next of this thread's BENCH_TRANS targets ({instance id, user k}), each once.
function M.next_target()
  M.tpos = M.tpos + 1
  if M.tpos > #M.trans then  -- ran out: start over (these answer 4xx and are reported)
    assert(#M.trans > 0, "BENCH_TRANS has no entries for this thread")
    M.tpos = 1
    exhausted = exhausted + 1
  elseif exhausted > 0 then
    exhausted = exhausted + 1
  end
  return M.trans[M.tpos]
end

local transition_body = '{"to":"Running"}'
function M.transition_request()
  local e = M.next_target()
  return wrk.format("POST", "/api/v1/workflows/" .. e[1] .. "/transitions",
    { ["Authorization"] = M.auth[e[2]], ["Content-Type"] = "application/json" }, transition_body)
end

function request()
  return M.request()
end

local find, match = string.find, string.match
function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
    if status == 201 then
      local id = body and match(body, '^{"id":"([%x%-]+)"')
      if id then
        created = created + 1
        file("created"):write(id, "\n")
      else
        unparsed = unparsed + 1
      end
    elseif M.tset then
      local id = body and match(body, '^{"id":"([%x%-]+)"')
      if id and M.tset[id] then
        transitioned = transitioned + 1
        file("transitioned"):write(id, "\n")
      elseif not id and body and find(body, "/transitions", 1, true) then
        unparsed = unparsed + 1
      end
    end
  else
    non2xx = non2xx + 1
    codes[status] = (codes[status] or 0) + 1
    if samples < 5 then
      samples = samples + 1
      local f = file("errors")
      if f then f:write(status, " ", (body or ""):sub(1, 400), "\n") end
    end
  end
end

function done(summary, latency, requests)
  local total = { ok = 0, non2xx = 0, created = 0, transitioned = 0, exhausted = 0, unparsed = 0 }
  local all_codes = {}
  for _, t in ipairs(threads) do
    for key in pairs(total) do total[key] = total[key] + (t:get(key) or 0) end
    for status, n in pairs(t:get("codes") or {}) do all_codes[status] = (all_codes[status] or 0) + n end
  end
  local code_list = {}
  for status, n in pairs(all_codes) do code_list[#code_list + 1] = status .. ":" .. n end
  table.sort(code_list)
  local e = summary.errors
  local lines = {
    "requests=" .. summary.requests,
    "duration_us=" .. summary.duration,
    string.format("rps=%.1f", summary.requests / (summary.duration / 1e6)),
    string.format("p50_us=%d", latency:percentile(50)),
    string.format("p90_us=%d", latency:percentile(90)),
    string.format("p99_us=%d", latency:percentile(99)),
    string.format("mean_us=%.0f", latency.mean),
    string.format("max_us=%d", latency.max),
    "ok=" .. total.ok,
    "non2xx=" .. total.non2xx,
    "codes=" .. (#code_list > 0 and table.concat(code_list, ",") or "-"),
    "created=" .. total.created,
    "transitioned=" .. total.transitioned,
    "exhausted=" .. total.exhausted,
    "unparsed=" .. total.unparsed,
    string.format("socket_errors=connect:%d,read:%d,write:%d,timeout:%d", e.connect, e.read, e.write, e.timeout),
  }
  local f = result_file and io.open(result_file, "w")
  for _, line in ipairs(lines) do
    io.write("RESULT ", line, "\n")
    if f then f:write(line, "\n") end
  end
  if f then f:close() end
end

return M
