/** The text a WeCom user receives once bound, in the configured locale. */
export function bindingConfirmationText(locale: 'zh' | 'en'): string {
  return locale === 'en'
    ? 'You are now connected. Send your message and it will be answered here.'
    : '已连接成功，请直接发送消息，我们会在这里回复您。';
}
