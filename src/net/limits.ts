/**
 * Largest gossipsub payload pinmesh sends. Gossipsub frames are capped at 4 MiB in both directions (the outbound
 * encoder's limit cannot be configured) and an IWANT answer may bundle several messages into one frame, so bigger
 * state goes over a stream instead. Oversize publishes are dropped silently (`recipients: []`).
 */
export const MAX_PUBSUB_MESSAGE_BYTES = 1024 * 1024

/**
 * Largest inbound gossipsub frame accepted. Set to it-length-prefixed's default on purpose: the sender's encoder
 * refuses anything larger anyway, so raising it would only let a remote peer make us buffer more.
 */
export const MAX_PUBSUB_FRAME_BYTES = 4 * 1024 * 1024

/** Most addresses remembered per peer (identify may report one per network interface). */
export const MAX_ADDRESSES_PER_PEER = 16

/** Receive window of each yamux stream: what one stream (an upload, say) may have in flight. */
export const STREAM_WINDOW_BYTES = 4 * 1024 * 1024

/**
 * Read buffer for a length-prefixed reader on a stream (`lpStream`'s `maxBufferSize`). The reader
 * buffers whatever the muxer delivers until it is read, and the muxer delivers up to a full window
 * (plus frame headers) while the reader is busy, so a buffer the size of the window overflows
 * (a stalled upload was reset that way); twice the window cannot.
 */
export const STREAM_READ_BUFFER_BYTES = 2 * STREAM_WINDOW_BYTES
