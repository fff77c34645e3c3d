/**
 * Splits items in order into chunks that keep each user's items together: a user's items all go into the chunk where
 * the user's first item falls, in their order, and a new chunk starts once the current one holds `sizeOf(index)`
 * items. So a step that checks a user's binding once per chunk cannot see it change between two of the user's items
 * (an item routed again later would otherwise overtake one routed in a later chunk). A chunk may grow past its size by
 * the later items of its users.
 */
export function chunkByUser<T>(items: readonly T[], userOf: (item: T) => string, sizeOf: (index: number) => number): T[][] {
  const chunks: T[][] = [];
  const chunkOf = new Map<string, T[]>();
  let open: T[] | null = null;
  for (const item of items) {
    const user = userOf(item);
    let chunk = chunkOf.get(user);
    if (!chunk) {
      if (open === null || open.length >= sizeOf(chunks.length - 1)) {
        open = [];
        chunks.push(open);
      }
      chunk = open;
      chunkOf.set(user, chunk);
    }
    chunk.push(item);
  }
  return chunks;
}
