/** A node's /metrics text; `token` when the node requires METRICS_TOKEN. */
export async function scrape(url: string, token?: string): Promise<string> {
  return (await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {})).text();
}

/** Reads one sample's value from Prometheus text, matching the metric name and every given label. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.split(' ').pop());
  }
  return undefined;
}
