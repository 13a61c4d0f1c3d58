# L'SMS (i el missatge de WhatsApp) amb el codi, en català.
# Variables: $code (6 xifres, sempre al principi), $brand (la marca del projecte),
# $minutes (minuts de validesa, de 1 a 10).
# Només caràcters GSM-7 (é, à hi són; ó, í, ç no): «codi Acme» evita l'apòstrof de «d'Acme».

otp-body = { $code } és el teu codi { $brand }. Vàlid durant { NUMBER($minutes) ->
        [one] { $minutes } minut
       *[other] { $minutes } minuts
    }.
