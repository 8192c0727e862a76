import { defineConfig } from 'drizzle-kit'

// generate and check need no database; migrate (packages/db/src/migrate-cli.ts) reads DATABASE_URL itself.
export default defineConfig({
  dialect: 'postgresql',
  schema: './packages/db/src/schema/index.ts',
  out: './drizzle',
  casing: 'snake_case',
})
