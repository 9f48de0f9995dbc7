/** Reading a running chainwatch's Prometheus /metrics as Prometheus does. */

/** The samples of `${adminUrl}/metrics` (Prometheus text format), as `name{labels}` → value. */
export async function scrapeMetrics(adminUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}
