// A little bookkeeping over a directory: the usual file calls.
import fs from 'node:fs';
import { readdir, rename, appendFile } from 'fs/promises';
import path from 'node:path';
const top = process.argv[2];
const config = JSON.parse(fs.readFileSync(path.join(top, 'config.json'), 'utf8'));
const notes = fs.readFileSync(path.join(top, 'notes.txt'), 'utf8');
const names = (await readdir(top)).sort();
await appendFile(path.join(top, 'log.txt'),
  `${config.name}: ${notes.trim().split('\n').length} notes, files ${names.join(' ')}\n`);
await rename(path.join(top, 'notes.txt'), path.join(top, 'notes.done'));
console.log(JSON.stringify((await readdir(top)).sort()));
