# De sms (en het WhatsApp-bericht) met de code, in het Nederlands.
# Variabelen: $code (6 cijfers, altijd vooraan), $brand (het merk van het project),
# $minutes (geldigheid in minuten, 1 tot 10).
# Alleen GSM-7-tekens, en kort: met het langste merk, de autofill-regel en de app-hash
# blijft het bericht binnen 140 bytes (Android SMS Retriever).

otp-body = { $code } is je code voor { $brand }. { NUMBER($minutes) ->
        [one] { $minutes } minuut
       *[other] { $minutes } minuten
    } geldig.
