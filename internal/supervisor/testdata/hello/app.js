// A Node hello world, for the cold start benchmarks. It prints when it
// listens (ms since the epoch, fractional), so the benchmark can tell the
// app's boot from the time the supervisor took to see it ready.
'use strict';
const http = require('http');
http.createServer((req, res) => res.end('hello\n')).listen(Number(process.env.PORT), () => {
  console.log('listening ' + (performance.timeOrigin + performance.now()).toFixed(3));
});
