import { mkdir, open, readFile, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_DEDUP_WINDOW, KeyWindow, type DeliveryStore } from './delivery-store.js';

/** Options of {@link FileDeliveryStore}. */
export interface FileDeliveryStoreOptions {
  /** Directory for the store's files (one per gateway id); created if missing. */
  directory: string;
  /** Processed keys kept per gateway (default 10 000). */
  window?: number;
  /**
   * fsync after every record (default true): survives a machine crash, not only a crash of the process.
   * Without it a killed process still loses nothing (the OS has the write), a power cut may.
   */
  fsync?: boolean;
}

interface GatewayFile {
  keys: KeyWindow;
  handle: FileHandle;
  path: string;
  lines: number;
  /** Writes of this gateway, one after another. */
  chain: Promise<void>;
}

interface Line {
  k?: string[];
  a?: string;
}

/**
 * A {@link DeliveryStore} in append-only files, for Node. One process per directory: two processes sharing a
 * file would each miss the other's records. A torn last line (the process died mid-write) is ignored; that
 * record was not complete, so its event had not been acknowledged either and is redelivered.
 */
export class FileDeliveryStore implements DeliveryStore {
  private readonly files = new Map<string, Promise<GatewayFile>>();
  private readonly window: number;
  private readonly fsync: boolean;

  constructor(private readonly options: FileDeliveryStoreOptions) {
    this.window = options.window ?? DEFAULT_DEDUP_WINDOW;
    this.fsync = options.fsync ?? true;
  }

  async lastAcked(gatewayId: string): Promise<string | undefined> {
    return (await this.load(gatewayId)).keys.lastAcked;
  }

  async seen(gatewayId: string, keys: readonly string[]): Promise<boolean> {
    const file = await this.load(gatewayId);
    return keys.some((k) => file.keys.has(k));
  }

  async record(gatewayId: string, keys: readonly string[], deliveryId: string): Promise<void> {
    const file = await this.load(gatewayId);
    const write = file.chain.then(async () => {
      await file.handle.appendFile(`${JSON.stringify({ k: [...keys], a: deliveryId } satisfies Line)}\n`);
      if (this.fsync) await file.handle.sync();
      for (const key of keys) file.keys.add(key);
      file.keys.lastAcked = deliveryId;
      file.lines += 1;
      if (file.lines > 2 * this.window) await this.compact(file);
    });
    // One failed write must not block the next; the failing caller still sees its own error.
    file.chain = write.catch(() => undefined);
    await write;
  }

  /** Closes the files. */
  async close(): Promise<void> {
    const files = await Promise.allSettled([...this.files.values()]);
    this.files.clear();
    for (const f of files) {
      if (f.status === 'fulfilled') {
        await f.value.chain;
        await f.value.handle.close();
      }
    }
  }

  private load(gatewayId: string): Promise<GatewayFile> {
    let file = this.files.get(gatewayId);
    if (!file) {
      file = this.open(gatewayId);
      this.files.set(gatewayId, file);
      file.catch(() => this.files.delete(gatewayId));
    }
    return file;
  }

  private async open(gatewayId: string): Promise<GatewayFile> {
    await mkdir(this.options.directory, { recursive: true });
    const path = join(this.options.directory, `${encodeURIComponent(gatewayId)}.jsonl`);
    const keys = new KeyWindow(this.window);
    let lines = 0;
    const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    for (const raw of text.split('\n')) {
      if (raw === '') continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        continue;
      }
      for (const key of line.k ?? []) keys.add(key);
      if (typeof line.a === 'string') keys.lastAcked = line.a;
      lines += 1;
    }
    // A torn last line must not glue itself to the next record.
    if (text !== '' && !text.endsWith('\n')) await writeFile(path, '\n', { flag: 'a' });
    const handle = await open(path, 'a');
    return { keys, handle, path, lines, chain: Promise.resolve() };
  }

  /** Rewrites the file with only what the window still holds, atomically (write aside, then rename). */
  private async compact(file: GatewayFile): Promise<void> {
    const aside = `${file.path}.compact`;
    const body: Line = { k: file.keys.list() };
    if (file.keys.lastAcked !== undefined) body.a = file.keys.lastAcked;
    await writeFile(aside, `${JSON.stringify(body)}\n`);
    if (this.fsync) {
      const h = await open(aside, 'r+');
      await h.sync();
      await h.close();
    }
    await rename(aside, file.path);
    await file.handle.close();
    file.handle = await open(file.path, 'a');
    file.lines = 1;
  }
}
