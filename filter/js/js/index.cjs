'use strict';
// hoptrace for Node's require(): the wasm-bindgen glue for Node loads the module synchronously.
const wasm = require('./cjs/hoptrace.js');
const { makeApi } = require('./api.cjs');

module.exports = makeApi(wasm, 'unknown_service:node');
