// The CLI as a library: run it in-process (tests, embedding). Re-exports only.
export { createProgram, runCli, VERSION } from './cli.ts'
export { Context } from './context.ts'
export { CliError, describeError, type ErrorReport, EXIT_CODES } from './errors.ts'
export {
  formatBytes,
  formatDuration,
  type GlobalOptions,
  OUTPUT_FORMATS,
  Output,
  type OutputFormat,
} from './output.ts'
export { defaultKeyPath, defaultMasterPubkeyPath, defaultStorePath } from './paths.ts'
export { Progress, type ProgressOptions, type ProgressState } from './progress.ts'
