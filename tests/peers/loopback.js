// loopback.js: preload (node -r) that makes every TCP server bind
// 127.0.0.1, whatever host the program asked for.  kinesis-local binds
// all interfaces and offers no setting to change it.
'use strict';
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (a, ...rest) {
  if (a && typeof a === 'object' && a.path == null) {
    a = Object.assign({}, a, { host: '127.0.0.1' });
  } else if (typeof a === 'number' || /^\d+$/.test(a)) {
    if (rest.length > 0 && typeof rest[0] !== 'function') rest.shift();
    rest.unshift('127.0.0.1');
  }
  return listen.call(this, a, ...rest);
};
