-- GET /v1/search. VIDX_QUERIES=cached: a few queries over and over (answered from the
-- query cache); =uncached: every query new (each one encoded by the text tower).
local mode = os.getenv("VIDX_QUERIES") or "cached"
local words = {"dog", "cat", "beach", "city", "night", "car", "person", "walking", "red", "snow", "river",
               "crowd", "kitchen", "bicycle", "sunset", "forest", "train", "music", "game", "rain"}
local counter, tid = 0, 0
local threads = {}
setup = function(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end
init = function(args) math.randomseed(os.time() + tid) end
request = function()
  local q
  if mode == "cached" then
    q = "a " .. words[math.random(4)] .. " on the " .. words[3]
  else
    counter = counter + 1
    q = words[math.random(#words)] .. "+" .. words[math.random(#words)] .. "+" .. tid .. "x" .. counter
  end
  return wrk.format("GET", "/v1/search?k=10&q=" .. string.gsub(q, " ", "+"))
end
