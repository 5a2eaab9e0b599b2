'use strict';
// The onesh context for an unmodified Node.js program, loaded with
// `node --require preload.cjs script.js` by onesh.runtime.nodeagent.
//
// It patches fs (sync, callback and promise forms), fs.promises and
// fs/promises, then calls module.syncBuiltinESMExports() so that ESM
// `import fs from 'node:fs'` and `import { readFile } from 'fs/promises'`
// see the same functions.  For each path it asks the bridge (a Unix socket
// served by the launcher, ONESH_NS_BRIDGE) what to do: a namespace path is
// handled there (the same union rule and the same durable writes as for
// Python programs); for a host path the bridge answers {host: true} and
// Node's own function runs, unchanged.  Paths under ONESH_HOST_ONLY (Node's
// and Python's installations, the job's script cache) never ask.
//
// The bridge calls are synchronous: a worker thread owns the socket and
// the main thread waits for its answer with Atomics.wait (about 0.2 ms a
// round trip; spawning a helper process per call would cost 2 ms and more).
//
// stdout, when it is a pipe, is written in frames: what the program writes
// in one turn of the event loop goes out as one write (64 KiB at most),
// not one per line.

const fs = require('fs');
const path = require('path');
const { fileURLToPath } = require('url');
const { isMainThread } = require('worker_threads');

const BRIDGE = process.env.ONESH_NS_BRIDGE || '';
const HOST = Symbol('host');
const FRAME = 64 * 1024;

function frameStdout() {
  const out = process.stdout;
  if (!isMainThread || out.isTTY) return;
  const write = out.write.bind(out);
  let parts = [];
  let size = 0;
  let callbacks = [];
  let scheduled = false;
  function flush() {
    scheduled = false;
    if (!parts.length) return true;
    const data = parts.length === 1 ? parts[0] : Buffer.concat(parts, size);
    const cbs = callbacks;
    parts = []; size = 0; callbacks = [];
    return write(data, (err) => { for (const cb of cbs) cb(err); });
  }
  out.write = function (chunk, encoding, cb) {
    if (typeof encoding === 'function') { cb = encoding; encoding = undefined; }
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding || 'utf8')
      : Buffer.from(chunk.buffer ? chunk.buffer : chunk, chunk.byteOffset || 0, chunk.byteLength);
    parts.push(buf);
    size += buf.length;
    if (typeof cb === 'function') callbacks.push(cb);
    if (size >= FRAME) return flush();  // (its answer is the stream's: backpressure holds)
    if (!scheduled) { scheduled = true; setImmediate(flush); }
    return true;
  };
  process.on('exit', flush);
}

frameStdout();
if (BRIDGE) install();

function install() {
  const { Worker, MessageChannel, receiveMessageOnPort } = require('worker_threads');
  const hostOnly = JSON.parse(process.env.ONESH_HOST_ONLY || '[]');
  let cwd = process.env.ONESH_PWD || process.cwd();
  let cwdIsReal = cwd === process.cwd();

  // ------------------------------------------------------------ channel
  const WORKER = `
    const { workerData } = require('worker_threads');
    const net = require('net');
    const { sab, port, sock } = workerData;
    const flag = new Int32Array(sab);
    let buf = Buffer.alloc(0);
    function answer(m) { port.postMessage(m); Atomics.store(flag, 0, 1); Atomics.notify(flag, 0); }
    const s = net.connect(sock);
    s.on('error', (e) => answer({ h: JSON.stringify({ error: { code: 'EIO', errno: 5,
      message: 'onesh namespace bridge: ' + e.message } }), p: null }));
    s.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 8) {
        const total = buf.readUInt32BE(0);
        if (buf.length < 4 + total) break;
        const hl = buf.readUInt32BE(4);
        const h = buf.toString('utf8', 8, 8 + hl);
        const p = buf.subarray(8 + hl, 4 + total);
        buf = buf.subarray(4 + total);
        answer({ h, p: p.length ? new Uint8Array(p) : null });
      }
    });
    port.on('message', (m) => {
      const head = Buffer.from(m.h);
      const pl = m.p ? Buffer.from(m.p.buffer, m.p.byteOffset, m.p.byteLength) : Buffer.alloc(0);
      const pre = Buffer.alloc(8);
      pre.writeUInt32BE(4 + head.length + pl.length, 0);
      pre.writeUInt32BE(head.length, 4);
      s.write(Buffer.concat([pre, head, pl]));
    });`;
  let chan = null;
  function channel() {
    if (chan) return chan;
    const sab = new SharedArrayBuffer(4);
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(WORKER, { eval: true, execArgv: [], env: {}, stdout: false, stderr: false,
      workerData: { sab, port: port2, sock: BRIDGE }, transferList: [port2] });
    worker.unref();
    chan = { flag: new Int32Array(sab), port: port1 };
    return chan;
  }

  function call(header, payload) {
    const c = channel();
    Atomics.store(c.flag, 0, 0);
    c.port.postMessage({ h: JSON.stringify(header), p: payload || null });
    let m;
    for (;;) {
      Atomics.wait(c.flag, 0, 0, 50);
      m = receiveMessageOnPort(c.port);
      if (m) break;
    }
    const reply = JSON.parse(m.message.h);
    const data = m.message.p ? Buffer.from(m.message.p.buffer, m.message.p.byteOffset, m.message.p.byteLength)
      : Buffer.alloc(0);
    return [reply, data];
  }

  function fail(e, syscall, p, dest) {
    let msg = `${e.code}: ${e.message}, ${syscall} '${p}'`;
    if (dest) msg += ` -> '${dest}'`;
    const err = new Error(msg);
    err.errno = -e.errno; err.code = e.code; err.syscall = syscall; err.path = p;
    if (dest) err.dest = dest;
    return err;
  }

  // op on a path: HOST, or [reply, data]; a bridge error is thrown as Node would
  function ask(syscall, header, p, payload, dest) {
    const [reply, data] = call(header, payload);
    if (reply.host) return HOST;
    if (reply.error) throw fail(reply.error, syscall, p, dest);
    return [reply, data];
  }

  // ------------------------------------------------------------ paths
  function asString(p) {
    if (typeof p === 'string') return p;
    if (p instanceof URL) return fileURLToPath(p);
    if (Buffer.isBuffer(p)) return p.toString();
    return null;
  }
  // the absolute path to ask about, or null: certainly the host's
  function candidate(p) {
    const s = asString(p);
    if (s === null || s.includes('\0')) return null;
    const full = path.posix.resolve(cwd, s);
    for (const h of hostOnly) if (full.startsWith(h + '/')) return null;
    return full;
  }
  function absolute(p) { return path.posix.resolve(cwd, asString(p)); }
  function hostArg(p) {
    if (cwdIsReal) return p;
    const s = asString(p);
    return s === null || s.startsWith('/') ? p : path.posix.resolve(cwd, s);
  }

  const S_IFMT = fs.constants.S_IFMT;
  function makeStats(v) {
    const st = Object.create(fs.Stats.prototype);
    const fields = { dev: v.dev, ino: v.ino, mode: v.mode, nlink: 1, uid: v.uid, gid: v.gid, rdev: 0,
      size: v.size, blksize: v.blksize, blocks: v.blocks, atimeMs: v.mtimeMs, mtimeMs: v.mtimeMs,
      ctimeMs: v.mtimeMs, birthtimeMs: v.mtimeMs, atime: new Date(v.mtimeMs), mtime: new Date(v.mtimeMs),
      ctime: new Date(v.mtimeMs), birthtime: new Date(v.mtimeMs) };
    for (const [k, val] of Object.entries(fields)) {
      Object.defineProperty(st, k, { value: val, writable: true, enumerable: true, configurable: true });
    }
    const is = (bits) => () => (st.mode & S_IFMT) === bits;
    Object.defineProperties(st, {
      isFile: { value: is(fs.constants.S_IFREG) }, isDirectory: { value: is(fs.constants.S_IFDIR) },
      isSymbolicLink: { value: () => false }, isFIFO: { value: is(fs.constants.S_IFIFO) },
      isSocket: { value: is(fs.constants.S_IFSOCK) }, isCharacterDevice: { value: is(fs.constants.S_IFCHR) },
      isBlockDevice: { value: () => false },
    });
    return st;
  }
  function makeDirent(name, kind, dir) {
    const t = (k) => () => kind === k;
    return { name, path: dir, parentPath: dir, isFile: t('file'), isDirectory: t('dir'),
      isSymbolicLink: t('symlink'), isFIFO: t('pipe'), isSocket: t('socket'),
      isCharacterDevice: t('device'), isBlockDevice: t('block') };
  }
  function encodingOf(options) {
    if (typeof options === 'string') return options;
    return options && options.encoding ? options.encoding : null;
  }
  function flagOf(options, dflt) {
    return options && typeof options === 'object' && options.flag ? String(options.flag) : dflt;
  }
  function toBuffer(data, options) {
    if (typeof data === 'string') return Buffer.from(data, encodingOf(options) || 'utf8');
    if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return Buffer.from(String(data));
  }
  function decode(data, options) {
    const enc = encodingOf(options);
    return enc && enc !== 'buffer' ? data.toString(enc) : data;
  }

  // ------------------------------------------------ namespace operations
  // Each returns HOST when the path is this host's.
  const ns = {
    readFile(p, options) {
      if (typeof p === 'number') return fds.has(p) ? decode(readAllFd(p), options) : HOST;
      const a = candidate(p);
      if (a === null) return HOST;
      const r = ask('open', { op: 'read', path: a }, a);
      return r === HOST ? HOST : decode(r[1], options);
    },
    writeFile(p, data, options, flag) {
      if (typeof p === 'number') {
        if (!fds.has(p)) return HOST;
        writeFd(p, toBuffer(data, options), null);
        return undefined;
      }
      const a = candidate(p);
      if (a === null) return HOST;
      return ask('open', { op: 'write', path: a, flag: flagOf(options, flag) }, a, toBuffer(data, options))
        === HOST ? HOST : undefined;
    },
    appendFile(p, data, options) { return ns.writeFile(p, data, options, 'a'); },
    stat(p, options) {
      const a = candidate(p);
      if (a === null) return HOST;
      let r;
      try {
        r = ask('stat', { op: 'stat', path: a }, a);
      } catch (e) {
        if (e.code === 'ENOENT' && options && options.throwIfNoEntry === false) return undefined;
        throw e;
      }
      return r === HOST ? HOST : makeStats(r[0].stat);
    },
    readdir(p, options) {
      const a = candidate(p);
      if (a === null) return HOST;
      const r = ask('scandir', { op: 'readdir', path: a }, a);
      if (r === HOST) return HOST;
      const rows = r[0].entries;
      const recursive = options && options.recursive;
      const out = [];
      for (const [name, kind] of rows) {
        out.push(options && options.withFileTypes ? makeDirent(name, kind, a) : name);
        if (recursive && kind === 'dir') {
          const sub = ns.readdir(path.posix.join(a, name), options);
          for (const s of sub) out.push(options.withFileTypes ? s : path.posix.join(name, s));
        }
      }
      const enc = encodingOf(options);
      return enc === 'buffer' ? out.map((n) => (typeof n === 'string' ? Buffer.from(n) : n)) : out;
    },
    mkdir(p, options) {
      const a = candidate(p);
      if (a === null) return HOST;
      const recursive = typeof options === 'object' && options !== null && !!options.recursive;
      return ask('mkdir', { op: 'mkdir', path: a, recursive }, a) === HOST ? HOST : undefined;
    },
    rm(p, options) {
      const a = candidate(p);
      if (a === null) return HOST;
      const o = options || {};
      return ask('rm', { op: 'rm', path: a, recursive: !!o.recursive, force: !!o.force }, a) === HOST
        ? HOST : undefined;
    },
    rmdir(p, options) {
      const a = candidate(p);
      if (a === null) return HOST;
      return ask('rmdir', { op: 'rmdir', path: a, recursive: !!(options && options.recursive) }, a) === HOST
        ? HOST : undefined;
    },
    unlink(p) {
      const a = candidate(p);
      if (a === null) return HOST;
      return ask('unlink', { op: 'unlink', path: a }, a) === HOST ? HOST : undefined;
    },
    rename(from, to) {
      const a = candidate(from);
      const b = candidate(to);
      if (a === null && b === null) return HOST;
      return ask('rename', { op: 'rename', src: a || absolute(from), dst: b || absolute(to) },
        a, null, b) === HOST ? HOST : undefined;
    },
    copyFile(from, to, mode) {
      const a = candidate(from);
      const b = candidate(to);
      if (a === null && b === null) return HOST;
      const excl = typeof mode === 'number' && (mode & fs.constants.COPYFILE_EXCL) !== 0;
      return ask('copyfile', { op: 'copy', src: a || absolute(from), dst: b || absolute(to), excl }, a, null, b)
        === HOST ? HOST : undefined;
    },
    access(p) {
      const a = candidate(p);
      if (a === null) return HOST;
      return ask('access', { op: 'stat', path: a }, a) === HOST ? HOST : undefined;
    },
    realpath(p) {
      const a = candidate(p);
      if (a === null) return HOST;
      const r = ask('realpath', { op: 'realpath', path: a }, a);
      return r === HOST ? HOST : r[0].path;
    },
    open(p, flags) {
      const a = candidate(p);
      if (a === null) return HOST;
      const r = ask('open', { op: 'open', path: a, flags: flagString(flags) }, a);
      if (r === HOST) return HOST;
      const fd = orig.openSync('/', 'r');  // a real fd number, of a directory: fails loudly outside fs
      fds.set(fd, { handle: r[0].handle, path: a, position: 0 });
      return fd;
    },
  };

  function flagString(flags) {
    if (flags === undefined || flags === null) return 'r';
    if (typeof flags === 'string') return flags;
    const c = fs.constants;
    const acc = flags & 3;
    let s = acc === c.O_RDONLY ? 'r' : (flags & c.O_APPEND ? 'a' : 'w');
    if (flags & c.O_EXCL) s += 'x';
    if (acc === c.O_RDWR) s += '+';
    return s;
  }

  // ---------------------------------------------------- namespace fds
  const fds = new Map();
  function fdInfo(fd) {
    const f = fds.get(fd);
    if (!f) throw Object.assign(new Error('EBADF: bad file descriptor'), { code: 'EBADF', errno: -9 });
    return f;
  }
  function readFd(fd, length, position) {
    const f = fdInfo(fd);
    const pos = typeof position === 'number' && position >= 0 ? position : f.position;
    const r = ask('read', { op: 'pread', handle: f.handle, length, position: pos }, f.path);
    if (!(typeof position === 'number' && position >= 0)) f.position += r[1].length;
    return r[1];
  }
  function readAllFd(fd) {
    const parts = [];
    for (;;) {
      const d = readFd(fd, 1 << 20, null);
      if (!d.length) return Buffer.concat(parts);
      parts.push(d);
    }
  }
  function writeFd(fd, buf, position) {
    const f = fdInfo(fd);
    const r = ask('write', { op: 'pwrite', handle: f.handle, position: typeof position === 'number' ? position : null },
      f.path, buf);
    return r[0].written;
  }
  function closeFd(fd) {
    const f = fdInfo(fd);
    fds.delete(fd);
    try {
      ask('close', { op: 'close', handle: f.handle }, f.path);
    } finally {
      orig.closeSync(fd);
    }
  }

  // --------------------------------------------------------- installing
  const orig = {};
  for (const k of Object.keys(fs)) if (typeof fs[k] === 'function') orig[k] = fs[k];
  const origP = {};
  for (const k of Object.keys(fs.promises)) if (typeof fs.promises[k] === 'function') origP[k] = fs.promises[k];

  // name: the ns operation; nPaths: leading path arguments (1 or 2)
  const BY_PATH = {
    readFile: 1, writeFile: 1, appendFile: 1, stat: 1, lstat: 1, readdir: 1, mkdir: 1, rm: 1, rmdir: 1,
    unlink: 1, rename: 2, copyFile: 2, access: 1, realpath: 1, open: 1,
  };
  function nsOp(name) { return name === 'lstat' ? ns.stat : ns[name]; }
  function hostArgs(args, nPaths) {
    const out = args.slice();
    for (let i = 0; i < nPaths; i++) out[i] = hostArg(out[i]);
    return out;
  }

  for (const [name, nPaths] of Object.entries(BY_PATH)) {
    const op = nsOp(name);
    const sync = orig[name + 'Sync'];
    fs[name + 'Sync'] = function (...args) {
      const v = op(...args);
      return v !== HOST ? v : sync.apply(fs, hostArgs(args, nPaths));
    };
    const cbForm = orig[name];
    fs[name] = function (...args) {
      const cb = args[args.length - 1];
      if (typeof cb !== 'function') return cbForm.apply(fs, args);
      const rest = args.slice(0, -1);
      let v;
      try {
        v = op(...rest);
      } catch (e) {
        process.nextTick(cb, e);
        return undefined;
      }
      if (v === HOST) return cbForm.apply(fs, [...hostArgs(rest, nPaths), cb]);
      process.nextTick(cb, null, v);
      return undefined;
    };
    if (name === 'open') continue;  // fs.promises.open: FileHandle below
    const promiseForm = origP[name];
    if (promiseForm) {
      fs.promises[name] = async function (...args) {
        if (args[0] && typeof args[0] === 'object' && typeof args[0].fd === 'number' && !fds.has(args[0].fd)
            && !(args[0] instanceof URL) && !Buffer.isBuffer(args[0])) {
          return promiseForm.apply(fs.promises, args);  // a host FileHandle
        }
        const v = op(...args);
        return v !== HOST ? v : promiseForm.apply(fs.promises, hostArgs(args, nPaths));
      };
    }
  }
  fs.realpathSync.native = fs.realpathSync;
  fs.existsSync = function (p) {
    const a = candidate(p);
    if (a === null) return orig.existsSync(p);
    try {
      const v = ns.stat(a);
      return v === HOST ? orig.existsSync(hostArg(p)) : true;
    } catch (e) {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return false;
      throw e;
    }
  };
  fs.exists = function (p, cb) {
    let v;
    try { v = fs.existsSync(p); } catch (e) { v = false; }
    process.nextTick(cb, v);
  };

  // fd-based calls on namespace fds
  fs.readSync = function (fd, buffer, ...rest) {
    if (!fds.has(fd)) return orig.readSync(fd, buffer, ...rest);
    let offset = 0;
    let length = buffer.byteLength;
    let position = null;
    if (rest.length && typeof rest[0] === 'object' && rest[0] !== null) {
      ({ offset = 0, length = buffer.byteLength - offset, position = null } = rest[0]);
    } else if (rest.length) {
      [offset = 0, length = buffer.byteLength - offset, position = null] = rest;
    }
    const data = readFd(fd, length, position);
    Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength).set(data, offset);
    return data.length;
  };
  fs.writeSync = function (fd, data, ...rest) {
    if (!fds.has(fd)) return orig.writeSync(fd, data, ...rest);
    let buf;
    let position = null;
    if (typeof data === 'string') {
      buf = Buffer.from(data, typeof rest[1] === 'string' ? rest[1] : 'utf8');
      position = typeof rest[0] === 'number' ? rest[0] : null;
    } else {
      const offset = typeof rest[0] === 'number' ? rest[0] : 0;
      const length = typeof rest[1] === 'number' ? rest[1] : data.byteLength - offset;
      buf = Buffer.from(data.buffer, data.byteOffset + offset, length);
      position = typeof rest[2] === 'number' ? rest[2] : null;
    }
    return writeFd(fd, buf, position);
  };
  fs.closeSync = function (fd) { return fds.has(fd) ? closeFd(fd) : orig.closeSync(fd); };
  fs.fstatSync = function (fd, options) {
    if (!fds.has(fd)) return orig.fstatSync(fd, options);
    const f = fdInfo(fd);
    return makeStats(ask('fstat', { op: 'fstat', handle: f.handle }, f.path)[0].stat);
  };
  fs.fsyncSync = function (fd) {
    if (!fds.has(fd)) return orig.fsyncSync(fd);
    const f = fdInfo(fd);
    ask('fsync', { op: 'fsync', handle: f.handle }, f.path);
    return undefined;
  };
  for (const name of ['read', 'write', 'close', 'fstat', 'fsync']) {
    const cbForm = orig[name];
    const syncForm = fs[name + 'Sync'];
    fs[name] = function (fd, ...args) {
      const cb = args[args.length - 1];
      if (!fds.has(fd) || typeof cb !== 'function') return cbForm.call(fs, fd, ...args);
      let v;
      try { v = syncForm(fd, ...args.slice(0, -1)); } catch (e) { process.nextTick(cb, e); return undefined; }
      if (name === 'read') process.nextTick(cb, null, v, args[0]);
      else if (name === 'write') process.nextTick(cb, null, v, args[0]);
      else process.nextTick(cb, null, v);
      return undefined;
    };
  }

  // streams
  const { Readable, Writable } = require('stream');
  const origCreateReadStream = orig.createReadStream;
  fs.createReadStream = function (p, options) {
    const o = typeof options === 'string' ? { encoding: options } : (options || {});
    if (o.fd !== undefined && o.fd !== null) return origCreateReadStream(p, options);
    const fd = ns.open(p, o.flags || 'r');
    if (fd === HOST) return origCreateReadStream(hostArg(p), options);
    let position = typeof o.start === 'number' ? o.start : 0;
    const end = typeof o.end === 'number' ? o.end : Infinity;
    const s = new Readable({
      highWaterMark: o.highWaterMark || FRAME,
      read(n) {
        try {
          const want = Math.min(Math.max(n, FRAME), end - position + 1);
          const data = want > 0 ? readFd(fd, want, position) : Buffer.alloc(0);
          position += data.length;
          this.push(data.length ? data : null);
        } catch (e) { this.destroy(e); }
      },
      destroy(err, cb) { done(); cb(err); },
    });
    // (closed once: its fd number may be someone else's right after)
    let open = true;
    const done = () => { if (open) { open = false; try { closeFd(fd); } catch (e) { /* already gone */ } } };
    if (o.encoding) s.setEncoding(o.encoding);
    s.path = p; s.fd = fd; s.bytesRead = 0; s.pending = false;
    s.on('data', (d) => { s.bytesRead += d.length; });
    process.nextTick(() => { s.emit('open', fd); s.emit('ready'); });
    return s;
  };
  const origCreateWriteStream = orig.createWriteStream;
  fs.createWriteStream = function (p, options) {
    const o = typeof options === 'string' ? { encoding: options } : (options || {});
    if (o.fd !== undefined && o.fd !== null) return origCreateWriteStream(p, options);
    const fd = ns.open(p, o.flags || 'w');
    if (fd === HOST) return origCreateWriteStream(hostArg(p), options);
    const s = new Writable({
      decodeStrings: true,
      defaultEncoding: o.encoding || 'utf8',
      write(chunk, _enc, cb) {
        try { writeFd(fd, chunk, null); s.bytesWritten += chunk.length; cb(); } catch (e) { cb(e); }
      },
      final(cb) { open = false; try { closeFd(fd); cb(); } catch (e) { cb(e); } },
      destroy(err, cb) { if (open) { open = false; try { closeFd(fd); } catch (e) { err = err || e; } } cb(err); },
    });
    let open = true;  // (closed once: its fd number may be someone else's right after)
    s.path = p; s.fd = fd; s.bytesWritten = 0; s.pending = false;
    s.close = (cb) => { s.end(); if (cb) s.once('close', cb); };
    process.nextTick(() => { s.emit('open', fd); s.emit('ready'); });
    return s;
  };

  // fs.promises.open → a FileHandle-like object for namespace files
  class NsFileHandle {
    constructor(fd) { this.fd = fd; }
    async read(buffer, offset, length, position) {
      if (buffer && !ArrayBuffer.isView(buffer)) ({ buffer, offset, length, position } = buffer);
      buffer = buffer || Buffer.alloc(16384);
      const bytesRead = fs.readSync(this.fd, buffer, offset || 0, length || buffer.byteLength - (offset || 0),
        position === undefined ? null : position);
      return { bytesRead, buffer };
    }
    async readFile(options) { return decode(readAllFd(this.fd), options); }
    async write(data, ...rest) {
      const bytesWritten = fs.writeSync(this.fd, data, ...rest);
      return { bytesWritten, buffer: data };
    }
    async writeFile(data, options) { writeFd(this.fd, toBuffer(data, options), null); }
    async appendFile(data, options) { writeFd(this.fd, toBuffer(data, options), null); }
    async stat() { return fs.fstatSync(this.fd); }
    async sync() { fs.fsyncSync(this.fd); }
    async close() { if (fds.has(this.fd)) closeFd(this.fd); }
    async [Symbol.asyncDispose]() { await this.close(); }
    createReadStream(options) { return fs.createReadStream(fds.get(this.fd).path, options); }
  }
  const origOpenP = origP.open;
  fs.promises.open = async function (p, flags, mode) {
    const fd = ns.open(p, flags);
    return fd === HOST ? origOpenP(hostArg(p), flags, mode) : new NsFileHandle(fd);
  };

  // the working directory: the shell's, which may be one only the namespace has
  const origCwd = process.cwd.bind(process);
  const origChdir = process.chdir.bind(process);
  process.cwd = () => cwd;
  process.chdir = function (dir) {
    const a = candidate(dir);
    const st = a === null ? HOST : ns.stat(a);
    if (st === HOST) {
      origChdir(hostArg(dir));
      cwd = origCwd();
      cwdIsReal = true;
      return;
    }
    if (!st.isDirectory()) throw fail({ code: 'ENOTDIR', errno: 20, message: 'not a directory' }, 'chdir', a);
    cwd = a;
    try { origChdir(a); cwdIsReal = true; } catch (e) { cwdIsReal = false; }
  };

  // escapes: a child process sees only this host's files
  const cp = require('child_process');
  const reported = new Set();
  function audit(file, args) {
    const words = [file, ...(Array.isArray(args) ? args : [])].filter((w) => typeof w === 'string');
    const split = words.length === 1 ? words[0].split(/\s+/) : words;
    for (const w of split.slice(1, 33)) {
      if (!w.startsWith('/')) continue;
      const a = candidate(w);
      if (a === null || reported.has(a)) continue;
      let v;
      try { v = ns.stat(a); } catch (e) { continue; }
      if (v !== HOST) {
        reported.add(a);
        let shown = split.join(' ');
        if (shown.length > 80) shown = shown.slice(0, 77) + '...';
        orig.writeSync(2, `onesh: \`${shown}\` runs outside the onesh context: it sees only this host's `
          + `files, not namespace path ${a}\n`);
        return;
      }
    }
  }
  for (const name of ['spawn', 'spawnSync', 'execFile', 'execFileSync', 'exec', 'execSync']) {
    const original = cp[name];
    cp[name] = function (file, args, ...rest) {
      try { audit(file, args); } catch (e) { /* never break the program */ }
      return original.call(cp, file, args, ...rest);
    };
  }

  require('module').syncBuiltinESMExports();
}
