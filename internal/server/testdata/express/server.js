const express = require('express');
const app = express();
app.use(express.json());
app.get('/', (req, res) => res.send(`hello from ${process.env.GREETING || 'express'}`));
app.get('/healthz', (req, res) => res.send('ok'));
app.get('/env/:key', (req, res) => res.send(process.env[req.params.key] || ''));
app.get('/whoami', (req, res) => res.json({ host: req.get('host'), forwardedFor: req.get('x-forwarded-for') }));
app.post('/echo', (req, res) => res.json(req.body));
app.listen(process.env.PORT, () => console.log(`listening on ${process.env.PORT}`));
