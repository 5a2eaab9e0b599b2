// Print a number a second, forever.
let n = 0;
console.log(n++);
setInterval(() => console.log(n++), 1000);
