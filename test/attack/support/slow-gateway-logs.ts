/** What a relay node's JSON log lines say about one gateway socket being closed for not reading. */
export function closedForNotReading(logs: readonly string[], gatewayId: string): boolean {
  const sessions = new Set<string>();
  for (const line of logs) {
    if (!line.includes('gateway session opened') || !line.includes(`"gatewayId":"${gatewayId}"`)) continue;
    const sessionId = /"sessionId":"([^"]+)"/.exec(line)?.[1];
    if (sessionId) sessions.add(sessionId);
  }
  return logs.some(
    (line) =>
      (line.includes('holds more than its share of the send budget') || line.includes('gateway is not reading; closing its socket')) &&
      [...sessions].some((id) => line.includes(`"sessionId":"${id}"`)),
  );
}
