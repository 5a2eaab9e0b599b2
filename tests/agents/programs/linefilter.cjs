// Print the lines of stdin that contain a word, upper-cased, numbered.
const readline = require('readline');
const word = process.argv[2];
let n = 0;
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => { if (line.includes(word)) { n += 1; console.log(`${n}: ${line.toUpperCase()}`); } });
rl.on('close', () => console.error(`${n} matching`));
