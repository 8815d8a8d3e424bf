import { defineProject, mergeConfig } from 'vitest/config'
import { shared } from '../../vitest.shared.ts'

// forks, not worker threads: one test mounts a FUSE filesystem (the native binding runs on the
// process's main loop) and others spawn and kill CLI processes. The files mostly wait for child
// processes and servers, so they run side by side even on two cores.
export default mergeConfig(
  shared,
  defineProject({ test: { name: 'reliability', pool: 'forks', maxWorkers: 3, sequence: { groupOrder: 1 } } }),
)
