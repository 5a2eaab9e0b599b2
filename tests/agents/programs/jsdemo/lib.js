exports.greeting = (who) => `hello, ${who}, from a sibling module`;
