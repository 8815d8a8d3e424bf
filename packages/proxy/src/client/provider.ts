/** Opening a backup source from a description: a local directory or a root served by an agent. */
import type { FileSystemSource } from '../source.ts'
import { type ConnectAgentOptions, connectAgent } from './agent-client.ts'
import { LocalClient, type LocalClientOptions } from './local.ts'

/** Where a backup reads from. */
export type SourceSpec =
  | ({ readonly kind: 'local'; readonly root: string } & LocalClientOptions)
  | ({ readonly kind: 'agent' } & ConnectAgentOptions)

/** Something that opens a {@link FileSystemSource} on demand (one per backup run). */
export interface ClientProvider {
  open(): Promise<FileSystemSource>
}

/**
 * Opens the source `spec` describes.
 * @example
 * const src = await openSource({ kind: 'agent', url, token, fingerprint, root: 'data' })
 */
export async function openSource(spec: SourceSpec): Promise<FileSystemSource> {
  if (spec.kind === 'local') {
    const { kind: _kind, root, ...options } = spec
    return new LocalClient(root, options)
  }
  if (spec.kind === 'agent') {
    const { kind: _kind, ...options } = spec
    return connectAgent(options)
  }
  throw new TypeError(`unknown source kind ${JSON.stringify((spec as { kind?: unknown }).kind)}`)
}

/** A {@link ClientProvider} for `spec`. */
export function clientProvider(spec: SourceSpec): ClientProvider {
  return { open: () => openSource(spec) }
}
