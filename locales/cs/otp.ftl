# SMS (a zprava WhatsApp) s kodem, cesky.
# Promenne: $code (6 cislic, vzdy na zacatku), $brand (znacka projektu),
# $minutes (platnost v minutach, 1 az 10).
# Bez hacku a carek (krome e s carkou, ktere GSM-7 ma), jak byva u SMS s kody zvykem:
# jinak by zprava musela do UCS-2.

otp-body = { $code } je vas kod pro { $brand }. Plati { NUMBER($minutes) ->
        [one] { $minutes } minutu
        [few] { $minutes } minuty
       *[other] { $minutes } minut
    }.
