let seq = 0;
/** A database, topic or group suffix unique within this run. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${seq++}`;
}
