// The app every runtime test runs. MODE picks how it behaves:
//   (unset)     a good app: serves on PORT, leaves on SIGTERM
//   exit        exits with code 1 at once
//   never       never listens
//   wrongport   listens on PORT+1
//   health500   answers every request with 500
//   hang        accepts connections and never answers
//   ignoreterm  a good app that ignores SIGTERM
//   flood       a good app that also writes stdout as fast as it can
//   oom         allocates memory until it is killed
//   forkbomb    starts processes until it cannot
// Paths of a good app: / (hello), /env/NAME, /sick (health fails from
// then on), /crash (kill -9 of itself), /write/FILE (writes there),
// /connect/HOST/PORT (tries a TCP connection), /pid, /slow/MS (answers
// after MS milliseconds).
'use strict';
const http = require('http');
const net = require('net');
const fs = require('fs');
const { spawn } = require('child_process');

const mode = process.env.MODE || '';
const port = Number(process.env.PORT);
let sick = false;

if (mode === 'exit') {
  console.error('exiting at once');
  process.exit(1);
}
if (mode === 'never') {
  console.log('not listening anywhere');
  setInterval(() => {}, 1000);
  return;
}
if (mode === 'oom') {
  const hog = [];
  setInterval(() => {
    for (let i = 0; i < 16; i++) hog.push(Buffer.alloc(1 << 20, 1));
    console.log('holding ' + hog.length + ' MiB');
  }, 5);
  return;
}
if (mode === 'forkbomb') {
  let n = 0;
  const more = () => {
    try {
      spawn('sleep', ['600'], { stdio: 'ignore' });
      n++;
    } catch (e) {
      console.log('spawn failed after ' + n + ': ' + e.code);
      return;
    }
    setImmediate(more);
  };
  process.on('uncaughtException', (e) => { console.log('after ' + n + ' processes: ' + e.code); });
  more();
}

const server = http.createServer((req, res) => {
  if (mode === 'hang') return;
  if (mode === 'health500' || sick) {
    res.writeHead(500);
    return res.end('sick\n');
  }
  const parts = req.url.split('/');
  switch (parts[1]) {
    case '':
      res.end('hello from ' + (process.env.GREETING || 'app') + '\n');
      return;
    case 'env':
      res.end(process.env[parts[2]] === undefined ? '(unset)' : process.env[parts[2]]);
      return;
    case 'sick':
      sick = true;
      res.end('sick from now on\n');
      return;
    case 'crash':
      res.end('crashing\n', () => process.kill(process.pid, 'SIGKILL'));
      return;
    case 'slow':
      console.log('slow request for ' + parts[2] + ' ms');
      setTimeout(() => res.end('slow ' + (process.env.GREETING || 'app') + '\n'), Number(parts[2]));
      return;
    case 'pid':
      res.end(String(process.pid));
      return;
    case 'write':
      try {
        fs.writeFileSync(decodeURIComponent(parts.slice(2).join('/')), 'x');
        res.end('written');
      } catch (e) {
        res.end('refused: ' + e.code);
      }
      return;
    case 'connect': {
      const c = net.connect({ host: parts[2], port: Number(parts[3]) });
      c.setTimeout(2000);
      c.on('connect', () => { res.end('connected'); c.destroy(); });
      c.on('timeout', () => { res.end('refused: timeout'); c.destroy(); });
      c.on('error', (e) => res.end('refused: ' + e.code));
      return;
    }
  }
  res.writeHead(404);
  res.end('no such path\n');
});
server.listen(mode === 'wrongport' ? port + 1 : port, () => {
  console.log('listening on ' + (mode === 'wrongport' ? port + 1 : port));
});
if (mode === 'flood') {
  const line = 'flood '.repeat(15) + '\n';
  // A thousand lines a turn of the event loop, every turn: as fast as
  // it can while still serving (a loop that never yields would starve
  // the server under gVisor, where pipe writes never push back).
  const flood = () => {
    let ok = true;
    for (let i = 0; i < 1000 && ok; i++) ok = process.stdout.write(line);
    if (ok) setImmediate(flood);
    else process.stdout.once('drain', flood);
  };
  flood();
}
process.on('SIGTERM', () => {
  if (mode === 'ignoreterm') {
    console.log('SIGTERM ignored');
    return;
  }
  console.log('SIGTERM: closing');
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
