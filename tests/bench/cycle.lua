-- wrk script of the cold-cache rows (scripts/bench): each request carries the next
-- Authorization value of the file named by IDD_BENCH_CREDS (one a line, tests/bench/creds.py
-- writes them), round the file, so that with more values than the credential cache holds
-- nearly every request misses it. Run with wrk -t1: one Lua state, one cycle.
local creds = {}
local next_one = 0

function init(args)
   local path = os.getenv("IDD_BENCH_CREDS")
   if path == nil then
      error("cycle.lua: IDD_BENCH_CREDS names no file")
   end
   for line in io.lines(path) do
      if line ~= "" then
         creds[#creds + 1] = line
      end
   end
   if #creds == 0 then
      error("cycle.lua: " .. path .. " holds no credentials")
   end
end

function request()
   next_one = next_one % #creds + 1
   return wrk.format(nil, nil, { ["Authorization"] = creds[next_one] })
end
