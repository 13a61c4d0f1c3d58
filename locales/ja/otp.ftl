# 認証コードの SMS（と WhatsApp メッセージ）、日本語。
# 変数：$code（6 桁、常に先頭）、$brand（プロジェクトのブランド）、$minutes（有効時間、1〜10 分）。
# 日本語は UCS-2（1 通 70 文字）でしか送れないため短く。ブランドと自動入力の行で 1 通を
# 超える場合は英語で送る（docs/messages.md 参照）。

otp-body = { $code }は{ $brand }の認証コードです。有効期限は{ $minutes }分です。
