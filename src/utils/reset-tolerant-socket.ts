import { Socket } from 'node:net'

/** What a write gets when the peer has closed or reset the connection. */
const PEER_GONE = new Set(['EPIPE', 'ECONNRESET'])

/**
 * A TCP socket that keeps reading after the peer closed or reset the connection under a write.
 *
 * A server may answer a request before reading all of its body and close at once (Kubo does,
 * Go's server resets a connection closed with unread data); the next write then fails with
 * EPIPE or ECONNRESET while the answer still waits, unread, in the kernel. A plain `net.Socket`
 * destroys itself on that write error and the answer is lost. This one drops the rest of what is
 * written instead (every later write succeeds without sending), keeps reading, and ends as usual
 * at the end of the stream or on a read error, so the answer arrives first.
 */
export class ResetTolerantSocket extends Socket {
  private peerGone = false

  /** Whether a write found the peer gone, so that later writes were dropped. */
  get writesDropped (): boolean { return this.peerGone }

  override _write (chunk: unknown, encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.peerGone) { cb(); return }
    super._write(chunk, encoding, (err) => { cb(this.tolerate(err)) })
  }

  override _writev (chunks: Array<{ chunk: unknown, encoding: BufferEncoding }>, cb: (err?: Error | null) => void): void {
    if (this.peerGone) { cb(); return }
    const writev = super._writev
    if (writev === undefined) throw new Error('net.Socket without _writev')
    writev.call(this, chunks, (err) => { cb(this.tolerate(err)) })
  }

  private tolerate (err: (Error & { code?: string }) | null | undefined): Error | null | undefined {
    if (err == null || err.code === undefined || !PEER_GONE.has(err.code)) return err
    this.peerGone = true
    return null
  }
}
