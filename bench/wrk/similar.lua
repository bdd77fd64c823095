-- GET /v1/videos/{random id}/similar?k=10, ids from the file in VIDX_IDS.
local ids = {}
for line in io.lines(os.getenv("VIDX_IDS")) do ids[#ids + 1] = line end
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/v1/videos/" .. ids[math.random(#ids)] .. "/similar?k=10")
end
