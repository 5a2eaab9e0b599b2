// Count the words of a file and write the count into another file.
import { readFile, writeFile } from 'node:fs/promises';
const [src, dst] = process.argv.slice(2);
const words = (await readFile(src, 'utf8')).split(/\s+/).filter(Boolean).length;
await writeFile(dst, `${words}\n`);
console.log(`${src}: ${words} words`);
