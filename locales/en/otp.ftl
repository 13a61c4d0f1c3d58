# The passcode SMS (and WhatsApp message) in English.
# Variables: $code (6 digits, always first so it is the first 6-digit run),
# $brand (the project's brand), $minutes (how long the code is valid, 1 to 10).
# Keep to the GSM-7 alphabet and within one segment: see docs/messages.md.

otp-body = { $code } is your { $brand } code. Valid for { NUMBER($minutes) ->
        [one] { $minutes } minute
       *[other] { $minutes } minutes
    }.
