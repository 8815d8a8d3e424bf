// Encoder side of @pxar/codec: re-exports only.

export {
  type ContentInput,
  type EncodeEntry,
  type EncodeStreamOptions,
  encode,
  encodeSplit,
  type SplitChunk,
} from './encode-stream.ts'
export {
  type DeviceInput,
  ENCODER_ERROR_CODES,
  Encoder,
  type EncoderOptions,
  FileWriter,
  type LinkOffset,
  type NameInput,
} from './encoder.ts'
export { BufferSink, type ByteSink, concatBytes, drain } from './writers.ts'
