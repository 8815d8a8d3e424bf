import { defineConfig } from 'vitest/config'

// Vite's default server conditions with `@pxar/source` in front, so that tests run against the
// workspace packages' TypeScript sources without a build step.
const conditions = ['@pxar/source', 'module', 'node', 'development|production']

/** Shared vitest settings for every workspace project. */
export const shared: ReturnType<typeof defineConfig> = defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    restoreMocks: true,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
