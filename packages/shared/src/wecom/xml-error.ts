/** Why a WeCom XML document was refused. */
export type WecomXmlErrorCode = 'xml_malformed' | 'xml_forbidden' | 'xml_missing_field';

/** Error thrown by the WeCom XML parsers; `code` is stable. */
export class WecomXmlError extends Error {
  /** Stable machine-readable reason. */
  readonly code: WecomXmlErrorCode;

  constructor(code: WecomXmlErrorCode, message: string) {
    super(message);
    this.name = 'WecomXmlError';
    this.code = code;
  }
}
