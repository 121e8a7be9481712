# Sending a notification: the form, the template's preview, the routing preview and the right patient.
send-title = Send a message
send-channel-sms = SMS
send-channel-whatsapp = WhatsApp
send-channel-email = Email
send-channel-voice = Voice call
send-right-patient-summary = To { $name }, { $to }, { $channel }
send-right-patient-any-channel = on the channel the routing picks
send-right-patient-no-address = no address on record
send-right-patient-confirm = Yes, send to { $name }
send-right-patient-warning = You last worked with another patient. Check that this message is for { $name }.
