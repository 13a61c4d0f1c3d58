# Tin nhắn SMS (và WhatsApp) chứa mã, tiếng Việt.
# Biến: $code (6 chữ số, luôn ở đầu), $brand (thương hiệu của dự án),
# $minutes (số phút hiệu lực, 1 đến 10).
# Chữ có dấu chỉ gửi được bằng UCS-2 (70 ký tự mỗi tin) nên câu ngắn; nếu thêm thương hiệu
# và dòng tự điền mà vượt một tin, bản tiếng Anh được gửi thay (xem docs/messages.md).

otp-body = { $code } là mã xác thực { $brand }, hạn { $minutes } phút.
