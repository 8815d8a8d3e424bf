// Encoder side of @pxar/codec: re-exports only.
export {}
