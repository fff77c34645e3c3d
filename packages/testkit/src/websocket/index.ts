export { RawWebSocket } from './raw-websocket.js';
