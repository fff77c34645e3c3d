export * from './redis/index.js';
export * from './process/index.js';
export * from './haproxy/index.js';
export * from './websocket/index.js';
