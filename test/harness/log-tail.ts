import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { describeError } from '../../lib/errors.js';

/** The last `lines` lines of a file, reading at most its last `maxBytes`; a note when it cannot be read. */
export function tailFile(file: string, lines: number, maxBytes = 256 * 1024): string {
  let fd: number | undefined;
  try {
    const size = statSync(file).size;
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    fd = openSync(file, 'r');
    readSync(fd, buffer, 0, length, size - length);
    const all = buffer.toString('utf8').split('\n');
    if (all[all.length - 1] === '') all.pop();
    // A partial first line (the read began mid-line) is dropped unless the whole file was read.
    if (length < size) all.shift();
    return all.slice(-lines).join('\n');
  } catch (err) {
    return `(cannot read ${file}: ${describeError(err)})`;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** One block per component: a header naming it and its log file, then the log's last lines. */
export function componentLogTails(logFiles: Readonly<Record<string, string>>, lines = 40): string {
  return Object.entries(logFiles)
    .map(([name, file]) => {
      const tail = tailFile(file, lines);
      return `--- ${name}: last ${lines} lines of ${file} ---\n${tail || '(empty)'}`;
    })
    .join('\n');
}
