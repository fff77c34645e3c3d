import { randomBytes } from 'node:crypto';

/** A multipart/form-data body with one file field, and the Content-Type that names its boundary. */
export interface MultipartBody {
  body: Buffer;
  contentType: string;
}

/**
 * Encodes one file as multipart/form-data, as media/upload takes it (reference §3.4): the field with its filename and
 * content-type, as a browser's FormData sends it (no `filelength` parameter, which strict multipart parsers refuse).
 * Quotes and line breaks in the name are percent-encoded, as browsers encode them, so a file name cannot end the
 * header or add one; the bytes go as they are.
 */
export function multipartFile(field: string, file: { data: Buffer; filename: string; mime: string }): MultipartBody {
  const boundary = `----wecom-relay-${randomBytes(12).toString('hex')}`;
  const head =
    `--${boundary}\r\n` +
    `Content-Disposition: form-data; name="${escapeQuoted(field)}"; filename="${escapeQuoted(file.filename)}"\r\n` +
    `Content-Type: ${file.mime.replace(/[\r\n]/g, '')}\r\n\r\n`;
  return {
    body: Buffer.concat([Buffer.from(head, 'utf8'), file.data, Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8')]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

function escapeQuoted(value: string): string {
  return value.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/"/g, '%22');
}
