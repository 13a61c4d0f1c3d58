# 验证码短信（及 WhatsApp 消息），简体中文。
# 变量：$code（6 位数字，始终在最前），$brand（项目品牌），$minutes（有效分钟数，1 到 10）。
# 汉字只能用 UCS-2 发送（每段 70 个字符）：文字尽量短；若加上品牌和自动填充行超出一段，
# 则改发英文（见 docs/messages.md）。

otp-body = { $code }是您的{ $brand }验证码，{ $minutes }分钟内有效。
