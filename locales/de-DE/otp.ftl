# Die SMS (und WhatsApp-Nachricht) mit dem Code, auf Deutsch.
# Variablen: $code (6 Ziffern, immer am Anfang), $brand (die Marke des Projekts),
# $minutes (Gültigkeit in Minuten, 1 bis 10).
# Nur GSM-7-Zeichen (ä ö ü ß sind enthalten): eine Nachricht, ein Segment.

otp-body = { $code } ist Ihr Code für { $brand }. Gültig für { NUMBER($minutes) ->
        [one] { $minutes } Minute
       *[other] { $minutes } Minuten
    }.
