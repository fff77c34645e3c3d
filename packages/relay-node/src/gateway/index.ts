export { GatewayServer, GATEWAY_SERVER_DEFAULTS } from './gateway-server.js';
export { SendBudget, type BudgetCharge, type SendBudgetOptions } from './send-budget.js';
export type {
  GatewayApp,
  GatewaySession,
  GatewayObserver,
  GatewayServerOptions,
  GatewayCloseOptions,
  GatewayDrainOptions,
  SessionCommand,
} from './gateway-types.js';
export { GatewaySessionClosedError, isGatewaySessionClosedError, SESSION_CLOSED } from './session-closed-error.js';
