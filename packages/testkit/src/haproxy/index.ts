export { startHaproxy, haproxyAvailable, type HaproxyHandle, type BalancedNode } from './start-haproxy.js';
