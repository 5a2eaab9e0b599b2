// Print the lines of stdin that contain a word, upper-cased, numbered.
import readline from 'node:readline';
const word = process.argv[2];
let n = 0;
for await (const line of readline.createInterface({ input: process.stdin })) {
  if (line.includes(word)) { n += 1; console.log(`${n}: ${line.toUpperCase()}`); }
}
console.error(`${n} matching`);
