# El SMS (y el mensaje de WhatsApp) con el código, en español.
# Variables: $code (6 dígitos, siempre al principio), $brand (la marca del proyecto),
# $minutes (minutos de validez, de 1 a 10).
# "clave" en vez de "código": la ó no existe en GSM-7 y obligaría a UCS-2 (70 caracteres
# por segmento), que no alcanzan para la marca y la línea de autocompletado.

otp-body = { $code } es tu clave de { $brand }. Vence en { NUMBER($minutes) ->
        [one] { $minutes } minuto
       *[other] { $minutes } minutos
    }.
