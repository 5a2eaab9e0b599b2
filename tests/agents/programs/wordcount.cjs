// Count the words of a file and write the count into another file.
const fs = require('fs');
const [src, dst] = process.argv.slice(2);
const words = fs.readFileSync(src, 'utf8').split(/\s+/).filter(Boolean).length;
fs.writeFileSync(dst, `${words}\n`);
console.log(`${src}: ${words} words`);
