/**
 * `serve` and `serve-token`: a PBS-compatible server (@pxar/server) over a local datastore, and
 * its API tokens.
 */
import type { Command } from 'commander'
import { action, type Context } from '../context.ts'
import { CliError, usageError } from '../errors.ts'
import { userPath } from '../paths.ts'
import { storeOption, storePath } from '../store.ts'

/** Default listen address of `serve` (the PBS port, loopback only). */
export const DEFAULT_LISTEN = '127.0.0.1:8007'

function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):([0-9]{1,5})$/.exec(text)
  const port = m ? Number(m[3]) : Number.NaN
  if (!m || port > 65535)
    throw usageError(`invalid --listen '${text}'`, 'expected HOST:PORT, e.g. 127.0.0.1:8007 or [::1]:8007')
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port }
}

/** Registers `serve` and `serve-token`. */
export function registerServeCommands(program: Command, ctx: Context): void {
  program
    .command('serve')
    .description(
      'serve a local datastore to proxmox-backup-client and `pxar-cli --repository` (PBS backup and reader protocols over TLS)',
    )
    .addOption(storeOption())
    .option('--listen <host:port>', 'address to listen on (port 0: any free port)', DEFAULT_LISTEN)
    .option('--datastore-name <name>', 'datastore name clients put in their repository', 'store')
    .option('--cert-dir <dir>', 'where proxy.pem/proxy.key and tokens.json live (default: DIR/.pxar-server)')
    .action(
      action(
        ctx,
        async (
          out,
          _args,
          opts: { store?: string; listen: string; datastoreName: string; certDir?: string },
        ) => {
          const listen = parseListen(opts.listen)
          const name = opts.datastoreName
          if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(name) || name.length < 3 || name.length > 32)
            throw usageError(`invalid datastore name '${name}'`, '3 to 32 characters: letters, digits, _ . -')
          const dir = storePath(opts)
          // loaded on use (start-up time of the other commands)
          const { startServer } = await import('@pxar/server')
          const server = await startServer({
            datastore: dir,
            name,
            listen,
            ...(opts.certDir ? { certDir: userPath(opts.certDir) } : {}),
          }).catch((cause: { code?: string; message?: string }) => {
            if (cause.code === 'EADDRINUSE')
              throw new CliError('EADDRINUSE', `address ${opts.listen} is already in use`, {
                hint: 'pick another --listen port',
                cause,
              })
            throw cause
          })
          const host = server.host.includes(':') ? `[${server.host}]` : server.host
          const repo = `${host}${server.port === 8007 ? '' : `:${server.port}`}:${server.name}`
          await out.result(
            { fingerprint: server.fingerprint, url: server.url, datastore: server.name, store: dir },
            () => [
              `fingerprint: ${server.fingerprint}`,
              `listening: ${server.url}`,
              `datastore: ${server.name} (${dir})`,
              `repository: 'root@pam!NAME@${repo}' (create a token: pxar-cli serve-token --store ${dir} --create 'root@pam!NAME')`,
            ],
          )
          await new Promise<void>((resolve, reject) => {
            const stop = (): void => {
              process.off('SIGINT', stop)
              process.off('SIGTERM', stop)
              server.stop().then(resolve, reject)
            }
            process.on('SIGINT', stop)
            process.on('SIGTERM', stop)
          })
          const s = server.stats
          out.info(
            `stopped: ${s.backupsFinished} backups finished, ${s.backupsAborted} aborted, ${s.chunkUploads} chunks uploaded`,
          )
        },
      ),
    )

  program
    .command('serve-token')
    .description('create an API token for `pxar-cli serve` (prints its secret once)')
    .addOption(storeOption())
    .requiredOption('--create <tokenid>', "token id user@realm!name, e.g. 'root@pam!backup'")
    .option('--cert-dir <dir>', 'server directory (default: DIR/.pxar-server)')
    .action(
      action(ctx, async (out, _args, opts: { store?: string; create: string; certDir?: string }) => {
        const { createTokenFile, isTokenId, serverPaths } = await import('@pxar/server')
        if (!isTokenId(opts.create))
          throw usageError(
            `invalid token id '${opts.create}'`,
            "expected user@realm!name, e.g. 'root@pam!backup'",
          )
        const file = opts.certDir
          ? `${userPath(opts.certDir)}/tokens.json`
          : serverPaths(storePath(opts)).tokenFile
        const secret = await createTokenFile(file, opts.create)
        await out.result({ tokenid: opts.create, value: secret }, () => secret)
      }),
    )
}
