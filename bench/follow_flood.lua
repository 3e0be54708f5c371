-- wrk script: PUT /me/following/A<n> as one of the accounts in $TOKENS_FILE (one access token
-- per line), with the researcher drawn at random from A1..A$RESEARCHERS: nearly every follow is new.
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
local researchers = tonumber(os.getenv("RESEARCHERS") or "10000")
local i = 0

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  i = i + 1
  local token = tokens[(i % #tokens) + 1]
  local path = "/me/following/A" .. math.random(1, researchers)
  return wrk.format("PUT", path, { ["Authorization"] = "Bearer " .. token })
end
