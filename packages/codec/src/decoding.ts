// Decoder and accessor side of @pxar/codec: re-exports only.

export {
  Accessor,
  type AccessorEntry,
  type AccessorOptions,
  type EntryRange,
  type GoodbyeEntryInfo,
  openAccessor,
} from './accessor.ts'
export { checkPayloadItem, type DecodedEntry, type DecodeOptions, decode, readPayloadAt } from './decode.ts'
export { Decoder, type DecoderEvent, type DecoderOptions } from './decoder.ts'
export { type DeviceNumbers, type Entry, type EntryKind, ZERO_METADATA } from './entry.ts'
export { bufferReadAt, type ReadAt, type ReadAtChunksOptions, readAtChunks, readExactAt } from './read-at.ts'
