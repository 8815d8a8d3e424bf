// Encoder side of @pxar/codec: re-exports only.
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
