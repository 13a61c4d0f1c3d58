# L'SMS (e il messaggio WhatsApp) con il codice, in italiano.
# Variabili: $code (6 cifre, sempre all'inizio), $brand (il marchio del progetto),
# $minutes (minuti di validità, da 1 a 10).
# Solo caratteri GSM-7 (è, à, ò, ù, ì ci sono): un solo segmento anche con marchio e autofill.

otp-body = { $code } è il tuo codice { $brand }. Valido per { NUMBER($minutes) ->
        [one] { $minutes } minuto
       *[other] { $minutes } minuti
    }.
