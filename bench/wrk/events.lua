-- POST /v1/users/{user}/events: 1,000 users, videos from the file in VIDX_IDS, a mix of
-- event types. Every answer must be 201 (wrk counts others as non-2xx responses).
local ids = {}
for line in io.lines(os.getenv("VIDX_IDS")) do ids[#ids + 1] = line end
local types = {"view", "like", "complete", "skip"}
local headers = {["Content-Type"] = "application/json"}
local tid = 0
setup = function(thread)
  tid = tid + 1
  thread:set("tid", tid)
end
init = function(args)
  math.randomseed(os.time() * 100 + (tid or 0))
end
request = function()
  local body = '{"video_id":"' .. ids[math.random(#ids)] .. '","type":"' .. types[math.random(#types)] .. '"}'
  return wrk.format("POST", "/v1/users/u" .. math.random(1000) .. "/events", headers, body)
end
