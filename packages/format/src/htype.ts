/** An item type (`htype`) of the pxar format: a 64-bit SipHash of a tag string. */
export interface HType {
  /** Upstream constant name without the `PXAR_` prefix, e.g. `ENTRY`. */
  readonly name: string
  /** Bits 0..31 (unique across all item types; dispatch on this, then check `hi`). */
  readonly lo: number
  /** Bits 32..63. */
  readonly hi: number
  /** The full value as a bigint. */
  readonly value: bigint
}
