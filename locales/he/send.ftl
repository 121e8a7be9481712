# שליחת הודעה: הטופס, תצוגה מקדימה של התבנית, תצוגה מקדימה של הניתוב, והמטופל הנכון.
send-title = שליחת הודעה
send-channel-sms = SMS
send-channel-whatsapp = וואטסאפ
send-channel-email = דוא״ל
send-channel-voice = שיחה קולית
send-right-patient-summary = אל { $name }, { $to }, { $channel }
send-right-patient-any-channel = בערוץ שהניתוב יבחר
send-right-patient-no-address = אין כתובת רשומה
send-right-patient-confirm = כן, לשלוח אל { $name }
send-right-patient-warning = עבדת לאחרונה עם מטופל אחר. יש לוודא שההודעה הזו מיועדת ל{ $name }.
