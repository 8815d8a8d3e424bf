import { defineProject, mergeConfig } from 'vitest/config'
import { shared } from '../../vitest.shared.ts'

// forks, not worker threads: one test mounts a FUSE filesystem (the native binding runs on the
// process's main loop) and others spawn and kill CLI processes.
export default mergeConfig(shared, defineProject({ test: { name: 'reliability', pool: 'forks' } }))
