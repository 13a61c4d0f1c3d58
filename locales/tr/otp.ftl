# Kodu iceren SMS (ve WhatsApp mesaji), Turkce.
# Degiskenler: $code (6 hane, her zaman basta), $brand (projenin markasi),
# $minutes (gecerlilik suresi, 1-10 dakika).
# Turkce karakterler (g, s, i, c isaretli) GSM-7'de yok ve UCS-2'ye zorlar: dogrulama
# SMS'lerinde yaygin oldugu gibi isaretsiz yazilir.

otp-body = { $code } { $brand } dogrulama kodunuz. { $minutes } dakika gecerli.
