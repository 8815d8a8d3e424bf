import { defineProject, mergeConfig } from 'vitest/config'
import { shared } from '../../vitest.shared.ts'

// Real mounts: the native binding runs on the process's main libuv loop, so tests run in forked
// processes (not worker threads), one file at a time.
export default mergeConfig(
  shared,
  defineProject({ test: { name: 'fuse', pool: 'forks', fileParallelism: false } }),
)
