-- wrk script: POST /auth/login for the accounts bench-0@example.org ... bench-(N-1)@example.org.
local n = tonumber(os.getenv("ACCOUNTS") or "16")
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  i = i + 1
  local body = string.format('{"email":"bench-%d@example.org","password":"benchmark password %d"}', i % n, i % n)
  return wrk.format(nil, "/auth/login", nil, body)
end
