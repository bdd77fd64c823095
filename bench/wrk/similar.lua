-- GET /v1/videos/{id}/similar?k=10, ids from the file in VIDX_IDS.
-- VIDX_SIMILAR=cold: every request a video not asked for before (each thread walks its
-- own stretch of the ids), so no answer comes from the cache;
-- =hot: a popular set of 5,000 videos asked again and again (answers cached);
-- =mixed: every other request hot, the others cold.
-- VIDX_SIMILAR_K (default 10) is part of the cache key: a run with another k finds
-- nothing cached by earlier runs.
local ids = {}
for line in io.lines(os.getenv("VIDX_IDS")) do ids[#ids + 1] = line end
local mode = os.getenv("VIDX_SIMILAR") or "cold"
local k = os.getenv("VIDX_SIMILAR_K") or "10"
local threads, tid, next_i, flip = {}, 0, 0, false
setup = function(thread)
  thread:set("tid", #threads)
  threads[#threads + 1] = thread
end
init = function(args)
  math.randomseed(os.time() + tid)
  -- cold walks start past the popular set
  next_i = 5000 + tid * math.floor((#ids - 5000) / 2) + math.random(1000)
end
request = function()
  local id
  local hot = mode == "hot"
  if mode == "mixed" then
    flip = not flip
    hot = flip
  end
  if hot then
    id = ids[math.random(math.min(5000, #ids))]
  else
    next_i = next_i % #ids + 1
    id = ids[next_i]
  end
  return wrk.format("GET", "/v1/videos/" .. id .. "/similar?k=" .. k)
end
