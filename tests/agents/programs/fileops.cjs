// Many kinds of file calls under one directory; prints what it sees.
const fs = require('fs');
const path = require('path');
const top = process.argv[2];
process.chdir(top);
fs.mkdirSync('a/b/c', { recursive: true });
fs.mkdirSync('a/b/c', { recursive: true });
try { fs.mkdirSync('a/b'); } catch (e) { console.log('mkdir:', e.code); }
fs.writeFileSync('a/b/c/deep.txt', 'deep\n');
const big = Buffer.alloc(1 << 20);
for (let i = 0; i < big.length; i++) big[i] = i % 256;
fs.writeFileSync('data.bin', big);
console.log('size:', fs.statSync('data.bin').size, fs.statSync('data.bin').isFile(), fs.statSync('a').isDirectory());
console.log('exists:', fs.existsSync('nope.txt'), fs.existsSync('a/b/c/deep.txt'));
try { fs.readFileSync('nope.txt'); } catch (e) { console.log('missing:', e.code, e.syscall); }
console.log('stat missing:', fs.statSync('nope.txt', { throwIfNoEntry: false }));
const fd = fs.openSync('fd.txt', 'w');
fs.writeSync(fd, 'abcdef');
fs.closeSync(fd);
const rfd = fs.openSync('fd.txt', 'r');
const buf = Buffer.alloc(3);
console.log('fd:', fs.readSync(rfd, buf, 0, 3, 2), buf.toString(), fs.fstatSync(rfd).size);
fs.closeSync(rfd);
fs.copyFileSync('fd.txt', 'a/copy.txt');
try { fs.copyFileSync('fd.txt', 'a/copy.txt', fs.constants.COPYFILE_EXCL); } catch (e) { console.log('excl:', e.code); }
console.log('copy:', fs.readFileSync('a/copy.txt', 'utf8'));
console.log('dirents:', fs.readdirSync('.', { withFileTypes: true }).map((d) => [d.name, d.isDirectory()]).sort());
console.log('recursive:', fs.readdirSync('a', { recursive: true }).sort());
fs.renameSync('fd.txt', 'a/moved.txt');
fs.unlinkSync('a/moved.txt');
try { fs.rmdirSync('a'); } catch (e) { console.log('rmdir:', e.code); }
fs.rmSync('a', { recursive: true });
fs.rmSync('gone', { force: true });
fs.appendFileSync('log.txt', 'one\n');
fs.appendFileSync('log.txt', 'two\n');
const out = fs.createWriteStream('stream.txt');
for (let i = 0; i < 1000; i++) out.write(`line ${i}\n`);
out.end(() => {
  let n = 0;
  fs.createReadStream('stream.txt', { encoding: 'utf8' })
    .on('data', (d) => { n += d.split('\n').length - 1; })
    .on('end', async () => {
      console.log('stream lines:', n);
      const p = await fs.promises.readFile('log.txt', 'utf8');
      console.log('log:', JSON.stringify(p));
      const h = await fs.promises.open('data.bin', 'r');
      const { bytesRead, buffer } = await h.read(Buffer.alloc(4), 0, 4, 1000);
      await h.close();
      console.log('handle:', bytesRead, buffer.toString('hex'));
      fs.stat('log.txt', (err, st) => {
        console.log('callback stat:', err, st.size);
        console.log('final:', fs.readdirSync('.').sort());
      });
    });
});
