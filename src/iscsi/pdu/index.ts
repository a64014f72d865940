/**
 * The iSCSI PDU codec (RFC 7143): pure functions from bytes to typed PDUs and back, shared by
 * Collie's target and the simulator's initiator. Only transports see streams; they feed
 * `PduFramer`, hand its frames to `decodePdu`, and write what `encodePdu` returns.
 */
export * from './ahs.js';
export * from './bhs.js';
export * from './decode.js';
export * from './digest.js';
export * from './encode.js';
export * from './errors.js';
export * from './framer.js';
export * from './lun.js';
export * from './messages.js';
export * from './opcodes.js';
export * from './reject.js';
export * from './sense.js';
export * from './text.js';
