-- wrk script: spreads requests over the tenants t0.test .. t(N-1).test by Host header.
local n = tonumber(os.getenv("TENANTS") or "100")
local i = 0
request = function()
  i = (i + 1) % n
  return wrk.format("GET", "/", { ["Host"] = "t" .. i .. ".test" })
end
