-- PUT /v2/keys/bench/<n> value=vvvvvvvv, keys cycling over 100000
counter = 0
request = function()
  counter = counter + 1
  local path = "/v2/keys/bench/" .. (counter % 100000)
  return wrk.format("PUT", path, {["Content-Type"] = "application/x-www-form-urlencoded"}, "value=vvvvvvvv")
end
