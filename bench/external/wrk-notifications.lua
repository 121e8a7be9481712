-- wrk's script for POST /v1/notifications: the same body run.py posts, a patient of 1,000 and a
-- `ref w-<n>` of its own for each request, with the key in MEDRELAY_KEY (medrelay-floor takes any).
--
--   MEDRELAY_KEY=mr_… wrk -t1 -c64 -d10s --latency -s bench/external/wrk-notifications.lua \
--       http://127.0.0.1:<port>/v1/notifications
--
-- wrk (Debian's package) is a load generator in C: it tells what the gateway's accept latency is
-- when the load generator takes little of the machine. It checks nothing; run.py and floor.py do.
local sent = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("MEDRELAY_KEY") or "-")

request = function()
  sent = sent + 1
  local body = string.format(
    '{"patient_id":"ext-%05d","topic":"general","priority":"urgent",' ..
    '"body":"Reminder: your appointment is on 01.12 at 09:30. ref w-%d"}',
    sent % 1000, sent)
  return wrk.format(nil, nil, nil, body)
end
