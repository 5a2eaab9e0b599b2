// A program in two files.
const path = require('path');
const { greeting } = require('./lib');
console.log(greeting('stage'));
console.log('from', path.basename(__dirname));
