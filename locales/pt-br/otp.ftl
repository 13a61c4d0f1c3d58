# O SMS (e a mensagem de WhatsApp) com o código, em português do Brasil.
# Variáveis: $code (6 dígitos, sempre no início), $brand (a marca do projeto),
# $minutes (minutos de validade, de 1 a 10).
# "senha" em vez de "código": ó, ç e ã não existem no GSM-7 e forçariam UCS-2
# (70 caracteres por segmento), que não comporta a marca e a linha de preenchimento automático.

otp-body = { $code } é sua senha { $brand }. Expira em { NUMBER($minutes) ->
        [one] { $minutes } minuto
       *[other] { $minutes } minutos
    }.
