-- GET /v2/keys/bench/<n> (a local read), keys cycling over 1000
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/v2/keys/bench/" .. (counter % 1000))
end
