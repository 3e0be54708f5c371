-- wrk script: GET the paths listed in $PATHS_FILE (one per line, already shuffled), each
-- thread starting at its own offset so the threads do not read the same profile in step; with
-- $AUTHORIZATION set, as that signed-in reader; with $COOKIE, as a browser signed in to the pages.
local paths = {}
for line in io.lines(os.getenv("PATHS_FILE")) do paths[#paths + 1] = line end
local thread_count = 0
local headers = {}
if os.getenv("AUTHORIZATION") and os.getenv("AUTHORIZATION") ~= "" then
  headers["Authorization"] = os.getenv("AUTHORIZATION")
end
if os.getenv("COOKIE") and os.getenv("COOKIE") ~= "" then
  headers["Cookie"] = os.getenv("COOKIE")
end

function setup(thread)
  thread:set("offset", thread_count * 7919)
  thread_count = thread_count + 1
end

local i = 0
function init(args)
  i = tonumber(offset) or 0
end

function request()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], headers)
end
