import type { DeliveryMode, GatewayEvent, GatewayFeature } from '@wecom-relay/shared';

/** What delivery needs of a gateway's socket (the gateway layer's session satisfies it). */
export interface DeliverySession {
  readonly gatewayId: string;
  readonly sessionId: string;
  readonly delivery: DeliveryMode;
  /** Wire dialect (`plain` or `cs`), recorded for operators; absent in sessions that do not say. */
  readonly dialect?: string;
  readonly resumeAfter: string | undefined;
  /** Optional events the gateway asked for; others are skipped at delivery. */
  readonly features: readonly GatewayFeature[];
  /** Epoch ms when the socket was opened. */
  readonly openedAt: number;
  readonly isOpen: boolean;
  /** Resolves once the frame is written to the socket; rejects when the socket is closed or not reading. */
  send(event: GatewayEvent): Promise<void>;
  close(code: number, reason: string): void;
}
