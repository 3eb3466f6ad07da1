// kinesalite-lo.js PORT [READYFILE]: kinesalite on 127.0.0.1 only.
// Its own cli.js listens on every interface; calling the library lets
// kl's tests bind loopback alone.  Streams are created, deleted and
// resharded at once (the *Ms options), and the shard limit is raised so
// tests can make 64-shard streams.
'use strict';
const path = require('path');
const modules = process.env.KL_NODE_MODULES || path.join(__dirname, '..', 'node_modules');
const kinesalite = require(path.join(modules, 'kinesalite'));
const port = Number(process.argv[2]);
const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 });
server.listen(port, '127.0.0.1', () => {
  process.stdout.write('ready ' + server.address().port + '\n');
});
process.on('SIGTERM', () => { server.close(); process.exit(0); });
