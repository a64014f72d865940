/**
 * The sheep wire codec: pure functions from bytes to typed values and back, shared by Collie's
 * sheep client and its embedded store. Only transports see streams; they feed `SheepFramer`.
 */
export * from './constants.js';
export * from './errors.js';
export * from './framer.js';
export * from './header.js';
export * from './inode.js';
export * from './node-id.js';
export * from './oid.js';
export * from './proto-ver.js';
export * from './reader.js';
export * from './vdi-attr.js';
export * from './vdi-hash.js';
export * from './vdi-state.js';
export * from './writer.js';
