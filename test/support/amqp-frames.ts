/** Reads AMQP 0-9-1 method frames out of what a client sends (after its protocol header), chunk by chunk. */
export function methodFrames(onMethod: (channel: number, classId: number, methodId: number) => void): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0);
  let headerSeen = false;
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    if (!headerSeen) {
      if (pending.length < 8) return;
      pending = pending.subarray(8); // "AMQP\0\0\9\1"
      headerSeen = true;
    }
    while (pending.length >= 7) {
      const size = pending.readUInt32BE(3);
      if (pending.length < 8 + size) return;
      if (pending.readUInt8(0) === 1) onMethod(pending.readUInt16BE(1), pending.readUInt16BE(7), pending.readUInt16BE(9));
      pending = pending.subarray(8 + size);
    }
  };
}

/** A basic.ack frame on `channel`: with a tag the broker never gave, it closes that channel (406) and only it. */
export function basicAckFrame(channel: number, deliveryTag: bigint): Buffer {
  const frame = Buffer.alloc(7 + 13 + 1);
  frame.writeUInt8(1, 0); // method frame
  frame.writeUInt16BE(channel, 1);
  frame.writeUInt32BE(13, 3);
  frame.writeUInt16BE(60, 7); // basic
  frame.writeUInt16BE(80, 9); // ack
  frame.writeBigUInt64BE(deliveryTag, 11);
  frame.writeUInt8(0, 19); // multiple: false
  frame.writeUInt8(0xce, 20);
  return frame;
}
