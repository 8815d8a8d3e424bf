// Decoder and accessor side of @pxar/codec: re-exports only.
export {}
