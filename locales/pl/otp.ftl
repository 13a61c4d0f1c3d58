# SMS (i wiadomosc WhatsApp) z kodem, po polsku.
# Zmienne: $code (6 cyfr, zawsze na poczatku), $brand (marka projektu),
# $minutes (waznosc w minutach, od 1 do 10).
# Bez polskich znakow (a, e, o, l z ogonkami itd. nie ma w GSM-7 i wymusilyby UCS-2),
# jak w wiekszosci SMS-ow z kodami w Polsce.

otp-body = { $code } to Twoj kod { $brand }. Wazny przez { NUMBER($minutes) ->
        [one] { $minutes } minute
        [few] { $minutes } minuty
       *[other] { $minutes } minut
    }.
