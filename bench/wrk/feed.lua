-- GET /v1/users/user{N}/feed?k=20 for the synthetic users (VIDX_USERS of them).
local users = tonumber(os.getenv("VIDX_USERS") or "100")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/v1/users/user" .. math.random(0, users - 1) .. "/feed?k=20")
end
