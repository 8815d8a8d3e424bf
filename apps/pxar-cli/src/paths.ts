/**
 * Default locations, as proxmox-backup-client uses them (keys) and in the user's data directory
 * (the local datastore).
 */
import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'

function home(): string {
  return process.env.HOME || homedir()
}

/** `${XDG_CONFIG_HOME:-~/.config}/proxmox-backup`. */
export function configDir(): string {
  const xdg = process.env.XDG_CONFIG_HOME
  return join(xdg && isAbsolute(xdg) ? xdg : join(home(), '.config'), 'proxmox-backup')
}

/** The default encryption key file: `~/.config/proxmox-backup/encryption-key.json`. */
export function defaultKeyPath(): string {
  return join(configDir(), 'encryption-key.json')
}

/** The default master public key: `~/.config/proxmox-backup/master-public.pem`. */
export function defaultMasterPubkeyPath(): string {
  return join(configDir(), 'master-public.pem')
}

/** The default local datastore: `${XDG_DATA_HOME:-~/.local/share}/pxar/datastore`. */
export function defaultStorePath(): string {
  const xdg = process.env.XDG_DATA_HOME
  return join(xdg && isAbsolute(xdg) ? xdg : join(home(), '.local', 'share'), 'pxar', 'datastore')
}

/** Resolves a user-given path (`~/` expanded) against the working directory. */
export function userPath(path: string): string {
  if (path === '~') return home()
  if (path.startsWith('~/')) return join(home(), path.slice(2))
  return resolve(path)
}
