/**
 * The run's log on disk, in two files, so that no byte depends on the network being up:
 *
 * - `output.raw`: what the processes wrote. Their stdout and stderr are both this one file
 *   (the same open file, O_APPEND), so the two streams are interleaved in the order written,
 *   and a process never blocks on a slow orchestrator: output goes to disk, not to a pipe.
 * - `output.log`: the same bytes made valid UTF-8 (invalid sequences become U+FFFD). This is
 *   exactly what the orchestrator is sent, and the only thing offsets and `logBytes` count,
 *   so re-reading any byte range of it after a 416 yields the very bytes sent before.
 *
 * Secrets (the run's `masked` variables) are masked on the way from the first file to the
 * second (mask.ts), so `output.log`, every chunk cut from it and every offset are of the masked
 * log. The masker holds back at most the longest secret form minus one byte until it knows.
 *
 * Memory holds offsets only; the bound on unsent log is the disk.
 */
import { promises as fs, openSync, writeSync, closeSync, constants } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { Masker, maskPatterns } from './mask';

const READ_BLOCK = 64 * 1024;

export interface LogChunk {
  /** Whole characters only: never ends inside a multi-byte character. */
  text: string;
  /** UTF-8 length of `text`. */
  bytes: number;
}

export class LogSpool {
  /** File descriptor the processes write to (stdout and stderr alike). */
  readonly rawFd: number;
  private rawRead = 0;
  private textSize = 0;
  /** Stateful: a character cut between two reads of the raw file is decoded whole. */
  private readonly decoder = new StringDecoder('utf8');
  private finished = false;
  /** Serialises ingest() calls: each must see the file position the previous one left. */
  private queue: Promise<void> = Promise.resolve();

  private constructor(
    private readonly rawPath: string,
    private readonly textPath: string,
    private readonly text: fs.FileHandle,
    private readonly masker: Masker | undefined,
  ) {
    // O_APPEND: writes from the processes and from note() never overwrite each other.
    this.rawFd = openSync(rawPath, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o600);
  }

  /** `secrets`: values to mask in the log (none: the log passes as it is). */
  static async create(dir: string, secrets: string[] = []): Promise<LogSpool> {
    const textPath = join(dir, 'output.log');
    const text = await fs.open(textPath, 'w+', 0o600);
    const masker = secrets.length > 0 ? new Masker(maskPatterns(secrets)) : undefined;
    return new LogSpool(join(dir, 'output.raw'), textPath, text, masker);
  }

  /** Bytes of sanitised log produced so far (what `logBytes` reports once finished). */
  get size(): number {
    return this.textSize;
  }

  /** A line from the runner itself (a refusal, a timeout), in the same stream as the process output. */
  note(line: string): void {
    if (this.finished) return;
    writeSync(this.rawFd, `pulse-runner: ${line}\n`);
  }

  /** Moves everything the processes wrote so far into the sanitised log. */
  ingest(): Promise<void> {
    const next = this.queue.then(() => this.ingestNow());
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Last ingest: nothing more will be written; a trailing partial character becomes U+FFFD. */
  async finish(): Promise<void> {
    await this.ingest();
    if (this.finished) return;
    this.finished = true;
    closeSync(this.rawFd);
    await this.append(this.decoder.end());
    if (this.masker) await this.appendBytes(this.masker.end());
  }

  /**
   * Up to `maxBytes` of the sanitised log from `offset`, cut at a character boundary. Always at
   * least one whole character, so a tiny `maxBytes` cannot stall the stream.
   */
  async read(offset: number, maxBytes: number): Promise<LogChunk> {
    const length = Math.min(maxBytes, this.textSize - offset);
    if (length <= 0) return { text: '', bytes: 0 };
    let buffer = Buffer.alloc(length);
    let { bytesRead } = await this.text.read(buffer, 0, length, offset);
    let cut = boundaryBefore(buffer, bytesRead);
    if (cut === 0) {
      // The first character alone is longer than maxBytes: send it whole.
      buffer = Buffer.alloc(Math.min(4, this.textSize - offset));
      ({ bytesRead } = await this.text.read(buffer, 0, buffer.length, offset));
      cut = Math.min(charWidth(buffer[0]), bytesRead);
    }
    return { text: buffer.subarray(0, cut).toString('utf8'), bytes: cut };
  }

  async close(): Promise<void> {
    if (!this.finished) {
      this.finished = true;
      closeSync(this.rawFd);
    }
    await this.text.close();
  }

  private async ingestNow(): Promise<void> {
    const raw = await fs.open(this.rawPath, 'r');
    try {
      const buffer = Buffer.alloc(READ_BLOCK);
      for (;;) {
        const { bytesRead } = await raw.read(buffer, 0, READ_BLOCK, this.rawRead);
        if (bytesRead === 0) break;
        this.rawRead += bytesRead;
        await this.append(this.decoder.write(buffer.subarray(0, bytesRead)));
      }
    } finally {
      await raw.close();
    }
  }

  private async append(text: string): Promise<void> {
    if (text === '') return;
    const bytes = Buffer.from(text, 'utf8');
    await this.appendBytes(this.masker ? this.masker.write(bytes) : bytes);
  }

  private async appendBytes(bytes: Buffer): Promise<void> {
    if (bytes.length === 0) return;
    await this.text.write(bytes, 0, bytes.length, this.textSize);
    this.textSize += bytes.length;
  }

  /** For diagnostics and tests: where the sanitised log lives. */
  get path(): string {
    return this.textPath;
  }
}

/** Bytes of the UTF-8 character starting with `lead`. */
function charWidth(lead: number): number {
  return lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

/**
 * The largest n ≤ length such that buffer[0, n) ends on a character boundary. The buffer is
 * valid UTF-8 from its start, so only its last (up to 3) bytes can be an incomplete character.
 */
export function boundaryBefore(buffer: Buffer, length: number): number {
  let lead = length - 1;
  while (lead >= 0 && lead > length - 4 && (buffer[lead] & 0xc0) === 0x80) lead--;
  if (lead < 0) return 0;
  return lead + charWidth(buffer[lead]) <= length ? length : lead;
}
