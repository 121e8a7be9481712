stats-title = Statistics
stats-period-legend = Period
stats-period-week = This week
stats-period-month = Last 30 days
stats-period-custom = Dates
stats-from = From
stats-to = To (included)
stats-show = Show
stats-covers = { $from } to { $to }, times in { $zone }
stats-invalid-dates = Choose a first and a last day, the last not before the first, at most a year apart.

stats-channel-whatsapp = WhatsApp
stats-channel-sms = SMS
stats-channel-email = Email
stats-channel-voice = Voice call

stats-outbound-heading = Messages to patients
stats-col-channel = Channel
stats-col-sent = Sent
stats-col-delivered = Delivered
stats-col-read = Read
stats-col-failed = Failed
stats-col-fallback = Fell back to another channel
stats-col-to-delivered = Time to delivered (median / 90%)
stats-col-to-read = Time to read (median / 90%)
stats-none = —

stats-bars-title = Messages per channel
stats-bars-desc = { $lines }
stats-bars-desc-line = { $channel }: { $sent } sent, { $delivered } delivered, { $read } read, { $failed } failed.
stats-no-data = Nothing in this period.

stats-latency-heading = How long it takes
stats-latency-title = Delivery, read and response times
stats-latency-desc = Median and 90th percentile of the time from hand-over to delivered and to read, per channel, and of the clinic's response time to patients.
stats-latency-delivered = to delivered
stats-latency-read = to read
stats-latency-response = Response to patients
stats-median = median
stats-p90 = 90% within

stats-inbound-heading = Messages from patients
stats-inbound-messages = Messages received
stats-inbound-response = Response time to patients (median / 90%)
stats-inbound-overdue = Waited past the response target
stats-inbound-confirmations = Confirmations
stats-inbound-cancellations = Cancellation requests
stats-inbound-urgent = Urgent
stats-inbound-opt-outs = Channels closed by patients
stats-inbound-opt-ins = Channels opened by patients

stats-heat-heading = Peak hours
stats-heat-title = Messages from patients by hour of the week
stats-heat-desc = Busiest hours: { $peaks }.
stats-heat-desc-none = No messages in this period.
stats-heat-peak = { $day } { $hour } ({ $messages })
stats-heat-legend = Messages per hour

stats-day-0 = Sunday
stats-day-1 = Monday
stats-day-2 = Tuesday
stats-day-3 = Wednesday
stats-day-4 = Thursday
stats-day-5 = Friday
stats-day-6 = Saturday

stats-seconds = { $n } s
stats-minutes = { $n } min
stats-hours = { $h } h { $m } min
