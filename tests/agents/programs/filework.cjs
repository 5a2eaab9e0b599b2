// A little bookkeeping over a directory: the usual file calls.
const fs = require('fs');
const path = require('path');
const top = process.argv[2];
const config = JSON.parse(fs.readFileSync(path.join(top, 'config.json'), 'utf8'));
const notes = fs.readFileSync(path.join(top, 'notes.txt'), 'utf8');
const names = fs.readdirSync(top).sort();
fs.appendFileSync(path.join(top, 'log.txt'),
  `${config.name}: ${notes.trim().split('\n').length} notes, files ${names.join(' ')}\n`);
fs.renameSync(path.join(top, 'notes.txt'), path.join(top, 'notes.done'));
console.log(JSON.stringify(fs.readdirSync(top).sort()));
