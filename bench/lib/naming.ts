/** Names shared by the relay run, the Socket.IO peer and their drivers: customer N writes to gateway N. */

/** The id of benchmark gateway n. */
export const gatewayName = (n: number): string => `gw-${n}`;

/** The WeCom external_userid bound to gateway n. */
export const userName = (n: number): string => `bu-${n}`;

/** The gateway a benchmark user is bound to (the peer's whole "binding store": it keeps no state). */
export const gatewayOfUser = (user: string): string => `gw-${user.slice(3)}`;
