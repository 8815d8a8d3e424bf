/**
 * @pxar/fuzz: structure-aware fuzzing of every @pxar parser and the regression corpus. The CLI is
 * `src/cli.ts` (`pnpm fuzz`); the test suite drives the same targets through this API.
 */
export * from './mutate.ts'
export * from './runner.ts'
export { TARGETS, targetByName } from './target-list.ts'
export { defineTarget, isTyped, packSplit, type Seed, type Target, type TargetSpec } from './targets.ts'
