import type { PbsCase } from '../types.ts'
import * as blob from './blob.ts'
import * as canonical from './canonical.ts'
import * as catalog from './catalog.ts'
import * as chunk from './chunk.ts'
import * as datastore from './datastore.ts'
import * as digest from './digest.ts'
import * as indexFiles from './index-files.ts'
import * as keys from './keys.ts'
import * as manifest from './manifest.ts'

export type PbsHandler = (c: PbsCase) => Promise<void>

/** Handler per `category` of a PBS vector `index.json`. */
export const PBS_HANDLERS: Readonly<Record<string, PbsHandler>> = {
  key: keys.key,
  'key-wrong-password': keys.keyWrongPassword,
  'key-wrong-fingerprint': keys.keyWrongFingerprint,
  chunk: chunk.chunk,
  'chunk-keyed': chunk.chunkKeyed,
  'blob-encode': blob.blobEncode,
  'blob-decode': blob.blobDecode,
  digest: digest.digest,
  didx: indexFiles.didx,
  fidx: indexFiles.fidx,
  catalog: catalog.catalog,
  'manifest-sign': manifest.manifestSign,
  'manifest-verify': manifest.manifestVerify,
  'datastore-manifest': manifest.datastoreManifest,
  'canonical-json': canonical.canonicalJson,
  datastore: datastore.datastore,
}
