// Print a number a second, forever.
import { setTimeout as sleep } from 'node:timers/promises';
for (let n = 0; ; n++) {
  console.log(n);
  await sleep(1000);
}
