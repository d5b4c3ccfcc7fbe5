import type { ChannelModel } from 'amqplib';

/** amqplib 0.10's multiplexer: it moves the frames of every channel to the socket, one write each. */
interface MuxInternals {
  readonly out: { cork(): void; uncork(): void };
  _readIncoming(): void;
}

/**
 * Makes a connection hand the frames its channels queued meanwhile to the socket as one write (writev)
 * instead of one system call per frame: a burst of publishes or acks then costs a few calls, not one
 * each. Frames keep their order; only how they are handed to the kernel changes. An amqplib whose
 * internals differ is left as it is.
 */
export function coalesceWrites(model: ChannelModel): ChannelModel {
  const mux = (model as unknown as { connection?: { muxer?: MuxInternals } }).connection?.muxer;
  if (!mux || typeof mux._readIncoming !== 'function' || typeof mux.out?.cork !== 'function') return model;
  const read = mux._readIncoming;
  mux._readIncoming = function (this: MuxInternals) {
    this.out.cork();
    try {
      read.call(this);
    } finally {
      this.out.uncork();
    }
  };
  return model;
}
