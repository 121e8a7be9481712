stats-title = סטטיסטיקה
stats-period-legend = תקופה
stats-period-week = השבוע
stats-period-month = 30 הימים האחרונים
stats-period-custom = תאריכים
stats-from = מתאריך
stats-to = עד תאריך (כולל)
stats-show = הצגה
stats-covers = { $from } עד { $to }, השעות לפי { $zone }
stats-invalid-dates = יש לבחור יום ראשון ויום אחרון, האחרון לא לפני הראשון, בטווח של עד שנה.

stats-channel-whatsapp = וואטסאפ
stats-channel-sms = מסרון
stats-channel-email = דוא״ל
stats-channel-voice = שיחה קולית

stats-outbound-heading = הודעות למטופלים
stats-col-channel = ערוץ
stats-col-sent = נשלחו
stats-col-delivered = נמסרו
stats-col-read = נקראו
stats-col-failed = נכשלו
stats-col-fallback = עברו לערוץ אחר
stats-col-to-delivered = זמן עד מסירה (חציון / 90%)
stats-col-to-read = זמן עד קריאה (חציון / 90%)
stats-none = —

stats-bars-title = הודעות לפי ערוץ
stats-bars-desc = { $lines }
stats-bars-desc-line = { $channel }: { $sent } נשלחו, { $delivered } נמסרו, { $read } נקראו, { $failed } נכשלו.
stats-no-data = אין נתונים בתקופה זו.

stats-latency-heading = כמה זמן זה לוקח
stats-latency-title = זמני מסירה, קריאה ומענה
stats-latency-desc = החציון והאחוזון ה־90 של הזמן ממסירה לספק ועד שההודעה נמסרה ונקראה, לפי ערוץ, ושל זמן המענה של המרפאה למטופלים.
stats-latency-delivered = עד מסירה
stats-latency-read = עד קריאה
stats-latency-response = מענה למטופלים
stats-median = חציון
stats-p90 = 90% בתוך

stats-inbound-heading = הודעות ממטופלים
stats-inbound-messages = הודעות שהתקבלו
stats-inbound-response = זמן מענה למטופלים (חציון / 90%)
stats-inbound-overdue = המתינו מעבר ליעד המענה
stats-inbound-confirmations = אישורי הגעה
stats-inbound-cancellations = בקשות ביטול
stats-inbound-urgent = דחופות
stats-inbound-opt-outs = ערוצים שמטופלים סגרו
stats-inbound-opt-ins = ערוצים שמטופלים פתחו

stats-heat-heading = שעות עומס
stats-heat-title = הודעות ממטופלים לפי שעה ויום בשבוע
stats-heat-desc = השעות העמוסות ביותר: { $peaks }.
stats-heat-desc-none = לא התקבלו הודעות בתקופה זו.
stats-heat-peak = { $day } { $hour } ({ $messages })
stats-heat-legend = הודעות בשעה

stats-day-0 = ראשון
stats-day-1 = שני
stats-day-2 = שלישי
stats-day-3 = רביעי
stats-day-4 = חמישי
stats-day-5 = שישי
stats-day-6 = שבת

stats-seconds = { $n } שנ׳
stats-minutes = { $n } דק׳
stats-hours = { $h } שע׳ { $m } דק׳
