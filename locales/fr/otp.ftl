# Le SMS (et le message WhatsApp) contenant le code, en français.
# Variables : $code (6 chiffres, toujours en tête), $brand (la marque du projet),
# $minutes (durée de validité, de 1 à 10).
# Pas de ponctuation haute (: ; ! ?) : elle exigerait une espace insécable, absente de
# GSM-7, qui ferait passer le message en UCS-2. « code Acme » évite l'élision de « de ».

otp-body = { $code } est votre code { $brand }. Valable { NUMBER($minutes) ->
        [one] { $minutes } minute
       *[other] { $minutes } minutes
    }.
