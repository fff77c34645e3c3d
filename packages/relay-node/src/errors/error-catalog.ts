/**
 * Every error the relay reports, by stable code. Gateways receive `code` in `error` frames; HTTP callers get
 * `status`; protocol errors that end a socket carry `closeCode`. A test keeps this catalog consistent.
 */
export interface CatalogEntry {
  /** Default human-readable message; callers may give a more specific one. */
  message: string;
  /** HTTP status for errors answered over HTTP. */
  status?: number;
  /** WebSocket close code for errors that end a gateway socket. */
  closeCode?: number;
}

/** The catalog. Codes never change meaning once released. */
export const ERROR_CATALOG = {
  CONFIG_INVALID: { message: 'configuration is invalid' },

  WEBHOOK_BAD_QUERY: { message: 'msg_signature, timestamp and nonce are required', status: 400 },
  WEBHOOK_SIGNATURE_INVALID: { message: 'signature does not match', status: 401 },
  WEBHOOK_MALFORMED: { message: 'callback body is not a WeCom envelope', status: 400 },
  WEBHOOK_DECRYPT_FAILED: { message: 'callback could not be decrypted', status: 400 },
  WEBHOOK_RECEIVE_ID_MISMATCH: { message: 'callback was encrypted for another receiver', status: 400 },
  WEBHOOK_BODY_TOO_LARGE: { message: 'callback body is too large', status: 413 },
  NOT_READY: { message: 'node is not ready', status: 503 },
  WEBHOOK_STALE: { message: 'callback timestamp is outside the accepted window', status: 400 },
  METRICS_UNAUTHORIZED: { message: 'metrics need the configured bearer token', status: 401 },

  HELLO_TIMEOUT: { message: 'no hello within 5 seconds', closeCode: 4001 },
  HELLO_REQUIRED: { message: 'first frame must be hello', closeCode: 4002 },
  AUTH_FAILED: { message: 'authentication failed', closeCode: 4003 },
  SUPERSEDED: { message: 'a newer connection for this gateway id replaced this one', closeCode: 4004 },
  TOO_MANY_PENDING_SOCKETS: { message: 'too many unauthenticated sockets from this address', closeCode: 4008 },
  SEND_BUFFER_FULL: { message: 'gateway is not reading; its messages stay queued', closeCode: 4009 },
  SERVICE_RESTART: { message: 'relay node is restarting; reconnect', closeCode: 1012 },

  SESSION_CLOSED: { message: 'gateway session is closed' },
  FRAME_MALFORMED: { message: 'frame is not a JSON object' },
  FRAME_UNKNOWN_TYPE: { message: 'unknown frame type' },
  FRAME_INVALID: { message: 'frame fields are invalid' },
  FRAME_TOO_LARGE: { message: 'frame is too large' },
  FRAME_BINARY: { message: 'binary frames are not part of the protocol' },
  HELLO_REPEATED: { message: 'hello was already accepted on this connection' },
  GATEWAY_ID_MISMATCH: { message: 'gateway_id differs from the one this connection authenticated as' },
  NOT_BOUND: { message: 'that WeCom user is not bound to this gateway' },
  CONTENT_TOO_LONG: { message: 'text content exceeds 10240 bytes (longer than 2048 it is sent in parts)' },
  IMAGE_INVALID: { message: 'image_data is not valid base64 of a supported image' },
  IMAGE_TOO_LARGE: { message: 'image exceeds the upload limit' },
  RATE_LIMITED: { message: 'too many requests; slow down' },
  KF_ACCOUNT_UNKNOWN: { message: 'that open_kfid is not a kf account this relay serves' },
  TOO_MANY_BINDING_TOKENS: { message: 'this gateway holds too many unused binding tokens; wait until one is used or expires' },

  SEND_WINDOW_CLOSED: {
    message: "WeCom allows at most 5 messages within 48 h of the customer's last message, while the session is not with a human servicer",
  },
  WECOM_API_ERROR: { message: 'WeCom refused the request' },
  WECOM_UNAVAILABLE: { message: 'WeCom could not be reached' },
  WECOM_MEDIA_TOO_LARGE: { message: 'media exceeds the download limit' },
  WECOM_MEDIA_FAILED: { message: 'media could not be downloaded' },
  REPLY_IN_PROGRESS: { message: 'a reply with this id is still being sent; retry later to get its ack' },
  MEDIA_INVALID: { message: 'media_data is not valid base64 of a file of the kind WeCom accepts for this msgtype' },
  MEDIA_TOO_LARGE: { message: 'media exceeds WeCom\'s upload limit for its msgtype' },
  NOT_YOUR_MESSAGE: { message: 'that msgid is not a message this gateway sent (or the relay no longer remembers it)' },
  MEDIA_FETCH_FAILED: { message: 'the media URL the gateway named could not be fetched' },
  MEDIA_LINK_INVALID: { message: 'media link is malformed or its signature does not match', status: 403 },
  MEDIA_LINK_EXPIRED: { message: 'media link has expired', status: 410 },
  MEDIA_LINK_BUSY: { message: 'too many media downloads at once; retry shortly', status: 503 },
  MEDIA_REFUSED_BY_WECOM: { message: 'WeCom refused to serve the media (expired after 3 days, or unknown)', status: 502 },
  SESSION_TAKEN_OVER: { message: 'a human servicer holds this customer\'s session; WeCom refuses bot messages until it is handed back' },

  ADMIN_UNAUTHORIZED: { message: 'a valid admin bearer token is required', status: 401 },
  ADMIN_BAD_REQUEST: { message: 'the admin request is malformed', status: 400 },
  ADMIN_NOT_FOUND: { message: 'no such admin resource', status: 404 },
  ADMIN_CONFLICT: { message: 'the admin request cannot be done in the current state', status: 409 },

  INTERNAL: { message: 'internal error', status: 500 },

  STATE_SCHEMA_UNKNOWN: { message: "the database file is neither this relay's nor the deployed relay's" },
  REDIS_UNSUITABLE: { message: 'the Redis this node was given cannot hold its state safely' },
  STATE_NOT_REPLICATED: { message: 'writes did not reach a Redis replica in time; the step is retried' },
} as const satisfies Record<string, CatalogEntry>;

/** A code from the catalog. */
export type ErrorCode = keyof typeof ERROR_CATALOG;
