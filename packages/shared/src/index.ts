export * from './protocol/messages.js';
export * from './protocol/frame-codec.js';
export * from './protocol/frame-schemas.js';
export * from './crypto/wecom-crypto.js';
export * from './wecom/callback-xml.js';
export * from './wecom/api-types.js';
export * from './auth/gateway-token.js';
export * from './wecom/sync-page.js';
